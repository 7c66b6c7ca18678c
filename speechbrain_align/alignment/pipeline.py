"""One alignment run: ``align(src, tgt, hparams)`` with settings and objects from a YAML.

Methods (``hparams["method"]``)
-------------------------------
``adversarial``
    MUSE: adversarial training (:mod:`.adversarial`) then Procrustes
    refinement (:mod:`.refinement`); with ``self_learning_iters > 0``,
    stochastic self-learning (:mod:`.self_learning`) runs between the two,
    from the dictionary the adversarial mapping induces.
``vecmap``
    Artetxe et al. (2018): similarity-distribution initialisation and
    stochastic self-learning (:mod:`.self_learning`) then the same refinement.
``gw``
    Gromov-Wasserstein initialisation (Alvarez-Melis and Jaakkola, 2018;
    :mod:`.gromov`), fused with the words' frequency ranks when
    ``gw_frequency_weight`` > 0 and with count-proportional masses when
    ``gw_mass_power`` > 0, then vecmap's self-learning and the same refinement.
``supervised``
    Procrustes on a training dictionary (the A* of Chung et al., 2018).

With ``refinement_hops > 0`` the unsupervised methods end with basin hopping
(:func:`.refinement.hop_refine`): restarts of the refinement from random halves
of the dictionary, kept when the unsupervised criterion rises.

``hparams`` is a loaded recipe YAML (``recipes/TextToText/alignment/hparams``):
every setting comes from it, and the adversarial method uses its objects
(``mapping``, ``discriminator``, ``checkpointer``...). Nothing here has a
default of its own. Both spaces are first normalised with the same
``normalize`` steps; the returned ``W`` maps normalised source rows:
``normalize(src) @ W.T``.
"""

import logging
import time

import numpy as np

from speechbrain_align.alignment.criterion import mean_cosine_criterion
from speechbrain_align.alignment.gromov import gromov_init
from speechbrain_align.alignment.induction import MODES, build_dictionary
from speechbrain_align.alignment.mappings import AlignmentError, dictionary_indices
from speechbrain_align.alignment.normalization import as_steps, normalize_embeddings
from speechbrain_align.alignment.procrustes import procrustes_on_pairs
from speechbrain_align.alignment.refinement import hop_refine, refine
from speechbrain_align.alignment.self_learning import self_learning, similarity_init
from speechbrain_align.dataio.vectors import Embeddings
from speechbrain_align.retrieval.search import as_matrix, normalize_rows

logger = logging.getLogger(__name__)

METHODS = ("adversarial", "vecmap", "gw", "supervised")

# The keys each method reads from its hparams (the recipe YAMLs define them all)
_COMMON = ("method", "seed", "normalize", "csls_k", "criterion_words")
_REFINEMENT = ("n_refinement", "refinement_patience", "dico_max_rank", "dico_mode", "dico_method",
               "refinement_hops", "hop_keep")
_SELF_LEARNING = ("vocab_cutoff", "keep_prob", "stochastic_multiplier", "stochastic_interval",
                  "threshold")
REQUIRED = {
    "supervised": _COMMON,
    "adversarial": _COMMON + _REFINEMENT + (
        "epoch_size", "batch_size", "dis_steps", "max_rank", "smoothing", "map_beta",
        "map_orthogonalize", "dis_clip_weights", "mapping", "discriminator", "lr_schedule",
        "epoch_counter", "checkpointer", "map_opt_class", "dis_opt_class", "train_logger",
        "self_learning_iters",
    ),
    "vecmap": _COMMON + _REFINEMENT + _SELF_LEARNING + (
        "init_vocab", "init_normalize", "init_quantiles", "max_iters",
    ),
    "gw": _COMMON + _REFINEMENT + _SELF_LEARNING + (
        "gw_vocab", "gw_epsilon", "gw_iters", "sinkhorn_iters", "gw_frequency_weight",
        "gw_mass_power", "max_iters",
    ),
}

_CHOICES = {
    "normalize": ("unit", "center", "unitdim", "none"),
    "init_normalize": ("unit", "center", "unitdim", "none"),
    "map_orthogonalize": ("iterative", "svd"),
    "dico_mode": MODES,
    "dico_method": ("nn", "csls"),
}


def _embedding_matrix(emb, name):
    """Rows sorted by decreasing count, plus the words and counts (or None)."""
    if isinstance(emb, Embeddings):
        emb = emb.sorted_by_count()
        return emb.vectors, emb.words, emb.counts
    try:
        return as_matrix(emb, name, min_rows=1), None, None
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


def check_options(hparams, shapes=None, names=("source", "target")):
    """Check an alignment run's ``hparams`` before anything is written.

    Checks the method, that every key it reads is present (:data:`REQUIRED`),
    the named choices and, given the ``(rows, dim)`` ``shapes`` of the two
    spaces, that unsupervised methods get equal dimensions and that the
    adversarial method's ``max_rank`` fits both vocabularies. Raises
    :class:`AlignmentError` naming the key or the input.

    Example
    -------
    >>> hp = {"method": "supervised", "seed": 0, "normalize": ["unit"], "csls_k": 10,
    ...       "criterion_words": 100}
    >>> check_options(hp)
    >>> try:
    ...     check_options(dict(hp, normalize=["unit", "whiten"]))
    ... except AlignmentError as err:
    ...     print(err)
    normalize: unknown 'whiten' (known: unit, center, unitdim, none)
    """
    method = hparams.get("method")
    if method not in METHODS:
        raise AlignmentError(f"method: unknown {method!r} (known: {', '.join(METHODS)})")
    required = REQUIRED[method]
    if method == "adversarial" and hparams.get("self_learning_iters"):
        required = required + _SELF_LEARNING
    missing = [key for key in required if key not in hparams]
    if missing:
        raise AlignmentError(f"hparams: method {method} needs {', '.join(missing)}")
    for key, known in _CHOICES.items():
        if key not in REQUIRED[method]:
            continue
        value = hparams[key]
        if key.endswith("normalize"):
            values = as_steps(value)
        elif key == "dico_mode" and isinstance(value, (list, tuple)) and value:
            values = value  # refinement phases
        else:
            values = [value]
        for value in values:
            if value not in known:
                raise AlignmentError(f"{key}: unknown {value!r} (known: {', '.join(known)})")
    if method == "gw" and not 0.0 <= float(hparams["gw_frequency_weight"]) <= 1.0:
        raise AlignmentError(f"gw_frequency_weight: {hparams['gw_frequency_weight']} is not "
                             f"in [0, 1]")
    if "hop_keep" in REQUIRED[method] and not 0 < float(hparams["hop_keep"]) <= 1:
        raise AlignmentError(f"hop_keep: {hparams['hop_keep']} is not in (0, 1]")
    if "refinement_hops" in REQUIRED[method] and int(hparams["refinement_hops"]) < 0:
        raise AlignmentError(f"refinement_hops: {hparams['refinement_hops']} is negative")
    if method == "gw" and float(hparams["gw_mass_power"]) < 0:
        raise AlignmentError(f"gw_mass_power: {hparams['gw_mass_power']} is negative")
    if shapes is None:
        return
    (n_src, src_dim), (n_tgt, tgt_dim) = shapes
    if method != "supervised" and src_dim != tgt_dim:
        raise AlignmentError(
            f"{names[0]} has dimension {src_dim} but {names[1]} has {tgt_dim}; "
            f"unsupervised methods need equal dimensions"
        )
    if method == "adversarial":
        for name, n in ((names[0], n_src), (names[1], n_tgt)):
            if n < hparams["max_rank"]:
                raise AlignmentError(
                    f"{name}: vocabulary of {n} words is smaller than max_rank="
                    f"{hparams['max_rank']} (the most frequent words the discriminator sees); "
                    f"lower max_rank"
                )


def _adversarial(src, tgt, hp, run_opts):
    """Adversarial training with the YAML's mapping, discriminator, optimizers and checkpointer."""
    from speechbrain_align.alignment.adversarial import AdversarialAligner

    mapping = hp["mapping"]
    if mapping.weight.shape != (tgt.shape[1], src.shape[1]):
        raise AlignmentError(
            f"mapping: weight of shape {tuple(mapping.weight.shape)} does not map "
            f"dimension {src.shape[1]} to {tgt.shape[1]} (check emb_dim)"
        )
    opts = {"device": "cpu", "noprogressbar": True}
    opts.update(run_opts or {})
    brain = AdversarialAligner(
        modules={"mapping": mapping, "discriminator": hp["discriminator"]},
        hparams=hp, run_opts=opts, checkpointer=hp["checkpointer"],
    )
    brain.train_mapping(src, tgt, hp["epoch_counter"], hp["epoch_size"], hp["batch_size"],
                        hp["max_rank"], hp["seed"])
    best_criterion = brain.load_best()
    return brain.current_mapping(), {"epochs": brain.history, "best_criterion": best_criterion}


def align(src_emb, tgt_emb, hparams, train_pairs=None, names=("source", "target"),
          run_opts=None):
    """Learn a linear map from the source space to the target space: one run.

    Random state: the YAML's ``seed_everything`` seeded the global RNGs when it
    was loaded, before building its objects; this function does not reseed
    (runs differ only by the YAML's ``seed``). The adversarial batches and
    vecmap's stochastic induction draw from generators seeded by ``seed``.

    Arguments
    ---------
    src_emb, tgt_emb : Embeddings or np.ndarray
        :class:`~speechbrain_align.dataio.vectors.Embeddings` (sorted here by
        count) or matrices whose rows are already sorted by decreasing
        frequency.
    hparams : dict
        A loaded alignment YAML: ``method`` and the keys of
        :data:`REQUIRED` for it.
    train_pairs : list, optional
        For ``supervised``: ``(source, target)`` word pairs (with
        Embeddings inputs) or row-index pairs (with matrices).
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
    >>> hp = {"method": "supervised", "seed": 0, "normalize": ["unit", "center", "unit"],
    ...       "csls_k": 10, "criterion_words": 500}
    >>> w, log = align(x, x @ q.T, hp, train_pairs=[(i, i) for i in range(100)])
    >>> log["criterion"] > 0.99
    True
    """
    src, src_words, src_counts = _embedding_matrix(src_emb, names[0])
    tgt, tgt_words, tgt_counts = _embedding_matrix(tgt_emb, names[1])
    hp = hparams
    check_options(hp, (src.shape, tgt.shape), names)
    method = hp["method"]
    if method == "gw" and hp["gw_mass_power"] > 0:
        for name, counts in zip(names, (src_counts, tgt_counts)):
            if counts is None:
                raise AlignmentError(f"{name}: gw_mass_power > 0 needs word counts (Embeddings "
                                     f"with counts, e.g. a .vec file with its .counts.tsv)")
    start = time.time()
    src = normalize_embeddings(src, hp["normalize"])
    tgt = normalize_embeddings(tgt, hp["normalize"])
    log = {"method": method, "seed": hp["seed"], "normalize": as_steps(hp["normalize"])}
    if method == "supervised":
        if train_pairs is None:
            raise AlignmentError("train_pairs: the supervised method needs a training dictionary")
        pairs = _pairs_to_indices(train_pairs, src_words, tgt_words)
        if pairs.min() < 0 or pairs[:, 0].max() >= len(src) or pairs[:, 1].max() >= len(tgt):
            raise AlignmentError("train_pairs: an index is outside the embeddings")
        w = procrustes_on_pairs(src, tgt, pairs)
        log["train_pairs"] = int(len(pairs))
    else:
        w = _unsupervised(src, tgt, hp, run_opts, log, (src_counts, tgt_counts))
    log["criterion"] = mean_cosine_criterion(src @ w.T, tgt, hp["criterion_words"], hp["csls_k"])
    log["seconds"] = time.time() - start
    return np.asarray(w, dtype=np.float32), log


def _unsupervised(src, tgt, hp, run_opts, log, counts):
    """Adversarial training (then self-learning if asked), or vecmap's or the
    Gromov-Wasserstein initialisation and self-learning; then refinement. Fills ``log``."""
    t0 = time.time()
    if hp["method"] == "adversarial":
        w, log["adversarial"] = _adversarial(src, tgt, hp, run_opts)
        log["adversarial_seconds"] = time.time() - t0
        if hp["self_learning_iters"] > 0:
            t0 = time.time()
            mapped = normalize_rows(src @ w.T)
            init = build_dictionary(mapped, normalize_rows(tgt), mode="union",
                                    max_rank=hp["vocab_cutoff"], csls_k=hp["csls_k"])
            w = _self_learning(src, tgt, init, hp, hp["self_learning_iters"], log, t0)
    else:
        if hp["method"] == "gw":
            init = gromov_init(src, tgt, hp["gw_vocab"], hp["gw_epsilon"], hp["gw_iters"],
                               hp["sinkhorn_iters"], hp["gw_frequency_weight"], *counts,
                               mass_power=hp["gw_mass_power"])
            log["gw_seconds"] = time.time() - t0
        else:
            init = similarity_init(src, tgt, hp["init_vocab"], hp["csls_k"],
                                   hp["init_normalize"], hp["init_quantiles"])
        w = _self_learning(src, tgt, init, hp, hp["max_iters"], log, t0)
    if hp["n_refinement"] > 0:
        t0 = time.time()
        w, log["refinement"] = refine(
            src, tgt, w, n_iters=hp["n_refinement"], dico_max_rank=hp["dico_max_rank"],
            dico_mode=hp["dico_mode"], dico_method=hp["dico_method"], csls_k=hp["csls_k"],
            criterion_words=hp["criterion_words"], patience=hp["refinement_patience"],
        )
        log["refinement_seconds"] = time.time() - t0
    if hp["refinement_hops"] > 0:
        t0 = time.time()
        w, hops = hop_refine(
            src, tgt, w, hp["refinement_hops"], hp["hop_keep"], hp["seed"], csls_k=hp["csls_k"],
            criterion_words=hp["criterion_words"], n_iters=max(1, hp["n_refinement"]),
            dico_max_rank=hp["dico_max_rank"], dico_mode=hp["dico_mode"],
            dico_method=hp["dico_method"], patience=hp["refinement_patience"],
        )
        log["hops"] = {"hops": len(hops), "kept": sum(h["accepted"] for h in hops),
                       "seconds": time.time() - t0}
    return w


def _self_learning(src, tgt, init, hp, max_iters, log, t0):
    """Stochastic self-learning from the seed dictionary ``init``; fills ``log``."""
    w, sl_log = self_learning(
        src, tgt, init, vocab_cutoff=hp["vocab_cutoff"], csls_k=hp["csls_k"],
        keep_prob=hp["keep_prob"], stochastic_multiplier=hp["stochastic_multiplier"],
        stochastic_interval=hp["stochastic_interval"], threshold=hp["threshold"],
        max_iters=max_iters, seed=hp["seed"],
    )
    log["init_pairs"] = int(len(init))
    log["self_learning"] = {"iterations": len(sl_log), "final": sl_log[-1] if sl_log else None}
    log["self_learning_seconds"] = time.time() - t0
    return w
