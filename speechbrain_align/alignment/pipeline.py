"""High-level alignment API: ``align(src, tgt, method, hparams)``.

Methods
-------
``adversarial``
    MUSE: adversarial training (:mod:`.adversarial`) then Procrustes
    refinement (:mod:`.refinement`).
``vecmap``
    Artetxe et al. (2018): similarity-distribution initialisation and
    stochastic self-learning (:mod:`.self_learning`) then the same refinement.
``supervised``
    Procrustes on a training dictionary (the A* of Chung et al., 2018).

Both spaces are first normalised with the same ``normalize`` steps; the
returned ``W`` maps normalised source rows: ``normalize(src) @ W.T``.
"""

import copy
import logging
import os
import tempfile
import time

import numpy as np
import torch

from speechbrain_align.alignment.criterion import mean_cosine_criterion
from speechbrain_align.alignment.induction import MODES
from speechbrain_align.alignment.normalization import as_steps, normalize_embeddings
from speechbrain_align.alignment.procrustes import procrustes_on_pairs
from speechbrain_align.alignment.refinement import refine
from speechbrain_align.alignment.self_learning import self_learning, similarity_init
from speechbrain_align.dataio.vectors import Embeddings
from speechbrain_align.alignment.mappings import AlignmentError, dictionary_indices
from speechbrain_align.retrieval.search import as_matrix

logger = logging.getLogger(__name__)

METHODS = ("adversarial", "vecmap", "supervised")

DEFAULTS = {
    "normalize": ["unit", "center", "unit"],
    "csls_k": 10,
    "criterion_words": 10000,
    # adversarial
    "n_epochs": 5,
    "epoch_size": 2000,
    "batch_size": 32,
    "dis_steps": 5,
    "max_rank": 5000,
    "smoothing": 0.1,
    "map_beta": 0.001,
    "map_orthogonalize": "iterative",
    "map_init": "identity",
    "map_lr": 0.1,
    "dis_lr": 0.1,
    "lr_decay": 0.98,
    "lr_shrink": 0.5,
    "min_lr": 1.0e-6,
    "dis_hidden": 2048,
    "dis_layers": 2,
    "dis_input_dropout": 0.1,
    "dis_dropout": 0.0,
    "dis_leaky": 0.2,
    "dis_clip_weights": 0.0,
    # refinement
    "n_refinement": 5,
    "refinement_patience": None,
    # unsupervised runs from seeds seed, seed+1, ...; the best unsupervised
    # criterion wins (a label-free guard against a failed run)
    "restarts": 1,
    "dico_max_rank": 15000,
    "dico_mode": "mutual",
    "dico_method": "csls",
    # vecmap
    "init_vocab": 4000,
    "init_normalize": ["unit", "center", "unit"],
    "init_quantiles": None,
    "vocab_cutoff": 20000,
    "keep_prob": 0.1,
    "stochastic_multiplier": 2.0,
    "stochastic_interval": 50,
    "threshold": 1.0e-6,
    "max_iters": 1000,
}


def _embedding_matrix(emb, name):
    """Rows sorted by decreasing count, plus the words (or None)."""
    if isinstance(emb, Embeddings):
        emb = emb.sorted_by_count()
        return emb.vectors, emb.words
    try:
        return as_matrix(emb, name, min_rows=1), None
    except ValueError as err:
        raise AlignmentError(str(err)) from None


def _pairs_to_indices(pairs, src_words, tgt_words, name="train_pairs"):
    pairs = list(pairs)
    if not pairs:
        raise AlignmentError(f"{name}: empty dictionary")
    if isinstance(pairs[0][0], str):
        if src_words is None or tgt_words is None:
            raise AlignmentError(f"{name}: word pairs need Embeddings (with words) as inputs")
        return dictionary_indices(pairs, src_words, tgt_words, name)
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


_CHOICES = {
    "normalize": ("unit", "center", "unitdim", "none"),
    "init_normalize": ("unit", "center", "unitdim", "none"),
    "map_orthogonalize": ("iterative", "svd"),
    "map_init": ("identity", "random"),
    "dico_mode": MODES,
    "dico_method": ("nn", "csls"),
}


def check_options(method, hparams=None, shapes=None, names=("source", "target")):
    """:data:`DEFAULTS` updated with ``hparams``, after checking them.

    Checks the named choices and, given the ``(rows, dim)`` ``shapes`` of the
    two spaces, that unsupervised methods get equal dimensions and that the
    adversarial method's ``max_rank`` fits both vocabularies. Lets a caller
    validate everything before writing anything (the recipe checks before
    touching its results folder). Raises :class:`AlignmentError` naming the
    key or the input.

    Example
    -------
    >>> check_options("vecmap", {"csls_k": 5})["csls_k"]
    5
    >>> try:
    ...     check_options("vecmap", {"dico_mode": "both"})
    ... except AlignmentError as err:
    ...     print(err)
    dico_mode: unknown 'both' (known: s2t, t2s, mutual, union)
    """
    if method not in METHODS:
        raise AlignmentError(f"method: unknown {method!r} (known: {', '.join(METHODS)})")
    hp = copy.copy(DEFAULTS)
    hp.update(dict(hparams or {}))
    for key, known in _CHOICES.items():
        values = as_steps(hp[key]) if key.endswith("normalize") else [hp[key]]
        for value in values:
            if value not in known:
                raise AlignmentError(f"{key}: unknown {value!r} (known: {', '.join(known)})")
    if shapes is None:
        return hp
    (n_src, src_dim), (n_tgt, tgt_dim) = shapes
    if method != "supervised" and src_dim != tgt_dim:
        raise AlignmentError(
            f"{names[0]} has dimension {src_dim} but {names[1]} has {tgt_dim}; "
            f"unsupervised methods need equal dimensions"
        )
    if method == "adversarial":
        for name, n in ((names[0], n_src), (names[1], n_tgt)):
            if n < hp["max_rank"]:
                raise AlignmentError(
                    f"{name}: vocabulary of {n} words is smaller than max_rank="
                    f"{hp['max_rank']} (the most frequent words the discriminator sees); "
                    f"lower max_rank"
                )
    return hp


def _given(hp, key, factory):
    """``hp[key]`` when the hparams provide an object, else ``factory()``."""
    value = hp.get(key)
    return factory() if value is None else value


def _adversarial(src, tgt, hp, seed, output_folder, run_opts):
    import speechbrain as sb

    from speechbrain_align.alignment.adversarial import AdversarialAligner, PlateauDecay
    from speechbrain_align.nnet.discriminator import Discriminator
    from speechbrain_align.nnet.mapping import LinearMapping

    mapping = _given(
        hp, "mapping", lambda: LinearMapping(src.shape[1], tgt.shape[1], init=hp["map_init"])
    )
    discriminator = _given(hp, "discriminator", lambda: Discriminator(
        tgt.shape[1], hp["dis_hidden"], hp["dis_layers"], hp["dis_input_dropout"],
        hp["dis_dropout"], hp["dis_leaky"],
    ))
    if mapping.weight.shape != (tgt.shape[1], src.shape[1]):
        raise AlignmentError(
            f"mapping: weight of shape {tuple(mapping.weight.shape)} does not map "
            f"dimension {src.shape[1]} to {tgt.shape[1]} (check emb_dim)"
        )
    lr_schedule = _given(hp, "lr_schedule", lambda: PlateauDecay(
        hp["map_lr"], hp["lr_decay"], hp["lr_shrink"], hp["min_lr"]
    ))
    epoch_counter = _given(
        hp, "epoch_counter", lambda: sb.utils.epoch_loop.EpochCounter(hp["n_epochs"])
    )
    save_folder = os.path.join(output_folder, "save")
    checkpointer = hp.get("checkpointer")
    if checkpointer is None:
        from speechbrain_align.utils.checkpoints import SafeCheckpointer

        checkpointer = SafeCheckpointer(
            save_folder,
            recoverables={
                "mapping": mapping, "discriminator": discriminator,
                "lr_schedule": lr_schedule, "counter": epoch_counter,
            },
            log_files=[os.path.join(output_folder, "adversarial_log.txt")],
        )
    train_logger = hp.get("train_logger")
    if train_logger is None and hp.get("log_file", True):
        train_logger = sb.utils.train_logger.FileTrainLogger(
            os.path.join(output_folder, "adversarial_log.txt")
        )
    brain_hp = dict(hp)
    brain_hp.update(
        map_opt_class=hp.get("map_opt_class")
        or (lambda params: torch.optim.SGD(params, lr=hp["map_lr"])),
        dis_opt_class=hp.get("dis_opt_class")
        or (lambda params: torch.optim.SGD(params, lr=hp["dis_lr"])),
        lr_schedule=lr_schedule,
        train_logger=train_logger,
    )
    opts = {"device": "cpu", "noprogressbar": True}
    opts.update(run_opts or {})
    brain = AdversarialAligner(
        modules={"mapping": mapping, "discriminator": discriminator},
        hparams=brain_hp, run_opts=opts, checkpointer=checkpointer,
    )
    brain.train_mapping(src, tgt, epoch_counter, hp["epoch_size"], hp["batch_size"],
                        hp["max_rank"], seed)
    best_criterion = brain.load_best()
    return brain.current_mapping(), {"epochs": brain.history, "best_criterion": best_criterion}


def align(
    src_emb,
    tgt_emb,
    method="adversarial",
    hparams=None,
    train_pairs=None,
    seed=0,
    output_folder=None,
    names=("source", "target"),
    run_opts=None,
):
    """Learn a linear map from the source space to the target space.

    Arguments
    ---------
    src_emb, tgt_emb : Embeddings or np.ndarray
        :class:`~speechbrain_align.dataio.vectors.Embeddings` (sorted here by
        count) or matrices whose rows are already sorted by decreasing
        frequency.
    method : "adversarial", "vecmap" or "supervised"
    hparams : dict, optional
        Overrides of :data:`DEFAULTS` (a loaded YAML works: objects under
        ``mapping``, ``discriminator``, ``checkpointer``, ``epoch_counter``,
        ``train_logger``, ``lr_schedule``, ``map_opt_class``,
        ``dis_opt_class`` are used when present).
    train_pairs : list, optional
        For ``supervised``: ``(source, target)`` word pairs (with
        Embeddings inputs) or row-index pairs (with matrices).
    seed : int
        Seeds torch and numpy (discriminator init, batches, stochastic
        dictionary induction).
    output_folder : str, optional
        Checkpoints and logs of adversarial training (a temporary folder,
        removed afterwards, when not given).
    names : (str, str)
        How errors name the two inputs (e.g. their files).
    run_opts : dict, optional
        SpeechBrain run options for the adversarial Brain (``device``...).

    Returns
    -------
    W : np.ndarray, float32, ``(tgt_dim, src_dim)``
        Apply as ``normalize_embeddings(src, log["normalize"]) @ W.T``.
    log : dict
        ``method``, ``seed``, ``normalize``, ``criterion`` (final), ``seconds``
        and the per-stage logs.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(500, 16)).astype("float32")
    >>> q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    >>> w, log = align(x, x @ q.T, "vecmap", {"stochastic_interval": 3, "n_refinement": 1})
    >>> log["criterion"] > 0.99
    True
    """
    check_options(method, hparams)
    src, src_words = _embedding_matrix(src_emb, names[0])
    tgt, tgt_words = _embedding_matrix(tgt_emb, names[1])
    hp = check_options(method, hparams, (src.shape, tgt.shape), names)
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    start = time.time()
    src = normalize_embeddings(src, hp["normalize"])
    tgt = normalize_embeddings(tgt, hp["normalize"])
    log = {"method": method, "seed": seed, "normalize": as_steps(hp["normalize"])}
    refine_kwargs = dict(
        dico_max_rank=hp["dico_max_rank"], dico_mode=hp["dico_mode"],
        dico_method=hp["dico_method"], csls_k=hp["csls_k"], criterion_words=hp["criterion_words"],
        patience=hp["refinement_patience"],
    )
    if method == "supervised":
        if train_pairs is None:
            raise AlignmentError("train_pairs: the supervised method needs a training dictionary")
        pairs = _pairs_to_indices(train_pairs, src_words, tgt_words)
        if pairs.min() < 0 or pairs[:, 0].max() >= len(src) or pairs[:, 1].max() >= len(tgt):
            raise AlignmentError("train_pairs: an index is outside the embeddings")
        w = procrustes_on_pairs(src, tgt, pairs)
        log["train_pairs"] = int(len(pairs))
    else:
        w, best = None, None
        for restart in range(max(1, int(hp["restarts"]))):
            folder = output_folder
            if output_folder is not None and restart:
                folder = os.path.join(output_folder, f"restart{restart}")
            w_r, log_r = _unsupervised_once(src, tgt, method, hp, seed + restart, folder,
                                            run_opts, refine_kwargs)
            log.setdefault("restarts", []).append(
                {"seed": seed + restart, "criterion": log_r["criterion"]})
            logger.info("%s restart %d (seed %d): criterion %.4f", method, restart,
                        seed + restart, log_r["criterion"])
            if best is None or log_r["criterion"] > best["criterion"]:
                w, best = w_r, log_r
        log.update({k: v for k, v in best.items() if k != "criterion"})
        log["seed"] = best["seed"]
    log["criterion"] = mean_cosine_criterion(src @ w.T, tgt, hp["criterion_words"], hp["csls_k"])
    log["seconds"] = time.time() - start
    return np.asarray(w, dtype=np.float32), log


def _unsupervised_once(src, tgt, method, hp, seed, output_folder, run_opts, refine_kwargs):
    """One unsupervised run (adversarial or vecmap, then refinement) from ``seed``."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    log = {"seed": seed}
    t0 = time.time()
    if method == "adversarial":
        if output_folder is None:
            with tempfile.TemporaryDirectory() as tmp:
                w, log["adversarial"] = _adversarial(src, tgt, hp, seed, tmp, run_opts)
        else:
            w, log["adversarial"] = _adversarial(src, tgt, hp, seed, output_folder, run_opts)
        log["adversarial_seconds"] = time.time() - t0
    else:
        init = similarity_init(src, tgt, hp["init_vocab"], hp["csls_k"], hp["init_normalize"],
                               hp["init_quantiles"])
        w, sl_log = self_learning(
            src, tgt, init, vocab_cutoff=hp["vocab_cutoff"], csls_k=hp["csls_k"],
            keep_prob=hp["keep_prob"], stochastic_multiplier=hp["stochastic_multiplier"],
            stochastic_interval=hp["stochastic_interval"], threshold=hp["threshold"],
            max_iters=hp["max_iters"], seed=seed,
        )
        log["init_pairs"] = int(len(init))
        log["self_learning"] = {"iterations": len(sl_log), "final": sl_log[-1] if sl_log else None}
        log["self_learning_seconds"] = time.time() - t0
    if hp["n_refinement"] > 0:
        t0 = time.time()
        w, log["refinement"] = refine(src, tgt, w, n_iters=hp["n_refinement"], **refine_kwargs)
        log["refinement_seconds"] = time.time() - t0
    log["criterion"] = mean_cosine_criterion(src @ w.T, tgt, hp["criterion_words"], hp["csls_k"])
    return w, log
