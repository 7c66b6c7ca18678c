"""Procrustes refinement on an induced dictionary (MUSE's second stage).

Each iteration maps the source space with the current ``W``, induces a
dictionary of mutual CSLS nearest neighbours among the most frequent words
and solves orthogonal Procrustes on it. The iterate with the best
unsupervised criterion (the starting ``W`` included) is returned. Several
dictionary modes run as successive phases, each from the best iterate so far.
"""

import logging
import time

import numpy as np

from speechbrain_align.alignment.criterion import mean_cosine_criterion
from speechbrain_align.alignment.induction import build_dictionary
from speechbrain_align.alignment.procrustes import procrustes_on_pairs
from speechbrain_align.retrieval.search import normalize_rows

logger = logging.getLogger(__name__)


def refine(
    src,
    tgt,
    mapping,
    n_iters=5,
    dico_max_rank=15000,
    dico_mode="mutual",
    dico_method="csls",
    csls_k=10,
    criterion_words=10000,
    patience=None,
    stop_at_fixed_point=True,
):
    """Iterate Procrustes on induced dictionaries; keep the best by the criterion.

    Arguments
    ---------
    src, tgt : np.ndarray
        Normalised embeddings, rows sorted by decreasing frequency.
    mapping : np.ndarray
        Starting ``(tgt_dim, src_dim)`` matrix.
    n_iters : int
        Procrustes iterations.
    dico_mode : str or list of str
        A mode of :func:`~speechbrain_align.alignment.induction.build_dictionary`,
        or several, run as phases in order: each phase starts from the best
        iterate so far and runs up to ``n_iters`` iterations (e.g.
        ``[mutual, union]``: the paper's mutual neighbours, then the larger
        union dictionary, kept only where the criterion improves).
    dico_max_rank, dico_method, csls_k
        Passed to :func:`~speechbrain_align.alignment.induction.build_dictionary`.
    criterion_words : int
        Number of frequent source words in the selection criterion.
    patience : int, optional
        Stop early once the criterion has not improved for this many
        iterations (None: run all ``n_iters``). On small, noisy spaces the
        dictionary keeps improving for tens of iterations, where MUSE's five
        stop far from the solution.
    stop_at_fixed_point : bool
        End a phase when an iteration induces a dictionary the phase already
        solved (a fixed point, or a cycle): every later iteration would repeat
        maps already scored, so the result is the same as running them out
        (False, the reference), in fewer iterations.

    Returns
    -------
    best : np.ndarray
        The best matrix.
    log : list of dict
        Per iteration: ``iteration``, ``mode``, ``dico_size``, ``criterion``,
        ``seconds``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 8)); x /= np.linalg.norm(x, axis=1, keepdims=True)
    >>> q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    >>> w0 = q + 0.1 * rng.normal(size=q.shape)  # a rough guess
    >>> w, log = refine(x, x @ q.T, w0, n_iters=2)
    >>> bool(np.allclose(w, q, atol=1e-4)), log[-1]["criterion"] > 0.99
    (True, True)
    >>> w, log = refine(x, x @ q.T, w0, n_iters=2, dico_mode=["mutual", "union"])
    >>> [entry["mode"] for entry in log]  # the union phase's second dictionary: its first again
    [None, 'mutual', 'mutual', 'union']
    """
    modes = [dico_mode] if isinstance(dico_mode, str) else list(dico_mode)
    best = np.asarray(mapping, dtype=np.float32)
    best_crit = mean_cosine_criterion(src @ best.T, tgt, criterion_words, csls_k)
    log = [{"iteration": 0, "mode": None, "dico_size": 0, "criterion": best_crit, "seconds": 0.0}]
    tgt_n = normalize_rows(tgt)
    it = best_it = 0
    for mode in modes:
        mapping, phase_start, seen = best, it, set()
        for _ in range(n_iters):
            it += 1
            start = time.time()
            mapped = normalize_rows(src @ mapping.T)
            dico = build_dictionary(
                mapped, tgt_n, mode=mode, method=dico_method, max_rank=dico_max_rank,
                csls_k=csls_k,
            )
            if len(dico) == 0:
                logger.warning("refinement iteration %d induced an empty dictionary; "
                               "ending the %s phase", it, mode)
                break
            key = dico.tobytes()
            if stop_at_fixed_point and key in seen:
                logger.info("refinement %d (%s): a dictionary of this phase again, phase ended",
                            it, mode)
                break
            seen.add(key)
            mapping = procrustes_on_pairs(src, tgt, dico)
            crit = mean_cosine_criterion(src @ mapping.T, tgt, criterion_words, csls_k)
            log.append(
                {"iteration": it, "mode": mode, "dico_size": int(len(dico)), "criterion": crit,
                 "seconds": time.time() - start}
            )
            logger.info("refinement %d (%s): %d pairs, criterion %.4f", it, mode, len(dico), crit)
            if crit > best_crit:
                best, best_crit, best_it = mapping, crit, it
            elif patience is not None and it - max(best_it, phase_start) >= patience:
                break
    return best, log


def hop_refine(src, tgt, mapping, hops, keep=0.5, seed=0, csls_k=10, criterion_words=10000,
               **refine_args):
    """Basin hopping around :func:`refine`, guided by the unsupervised criterion.

    ``hops`` times: the best map so far induces a union dictionary (among
    ``refine_args["dico_max_rank"]`` words, by ``dico_method``), a random ``keep`` share of its pairs
    gives a new start (Procrustes), which :func:`refine` refines; the result
    replaces the best map when its criterion is higher. The refinement alone
    stops in the first fixed point it reaches; the hops leave it.

    Arguments
    ---------
    src, tgt, mapping
        As :func:`refine` (normalised, rows sorted by decreasing frequency).
    hops : int
        Number of restarts (0: ``mapping`` is returned as it is).
    keep : float
        Share of the dictionary's pairs kept at each restart, in (0, 1].
    seed : int
        Seeds the draws.
    **refine_args
        Passed to :func:`refine` (``n_iters``, ``dico_max_rank``, ``dico_mode``...).

    Returns
    -------
    best : np.ndarray
    log : list of dict
        Per hop: ``hop``, ``criterion``, ``accepted``, ``seconds``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 8)); x /= np.linalg.norm(x, axis=1, keepdims=True)
    >>> q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    >>> w, log = hop_refine(x, x @ q.T, q + 0.3 * rng.normal(size=q.shape), hops=3,
    ...                     n_iters=2, dico_max_rank=300, criterion_words=300)
    >>> len(log), bool(np.allclose(w, q, atol=1e-4))
    (3, True)
    """
    if not 0 < keep <= 1:
        raise ValueError(f"keep: {keep} is not in (0, 1]")
    best = np.asarray(mapping, dtype=np.float32)
    best_crit = mean_cosine_criterion(src @ best.T, tgt, criterion_words, csls_k)
    rng = np.random.default_rng(seed)
    tgt_n = normalize_rows(tgt)
    max_rank = refine_args.get("dico_max_rank", 15000)
    method = refine_args.get("dico_method", "csls")
    log = []
    best_dico = None  # the best map's dictionary, induced again only when the map changes
    for hop in range(int(hops)):
        start = time.time()
        if best_dico is None:
            best_dico = build_dictionary(normalize_rows(src @ best.T), tgt_n, mode="union",
                                         method=method, max_rank=max_rank, csls_k=csls_k)
        dico = best_dico[rng.random(len(best_dico)) < keep]
        if len(dico) == 0:
            break
        w, steps = refine(src, tgt, procrustes_on_pairs(src, tgt, dico), csls_k=csls_k,
                          criterion_words=criterion_words, **refine_args)
        crit = max(step["criterion"] for step in steps)  # w's: refine keeps its best iterate
        accepted = bool(crit > best_crit)
        if accepted:
            best, best_crit, best_dico = w, crit, None
        log.append({"hop": hop + 1, "criterion": crit, "accepted": accepted,
                    "seconds": time.time() - start})
        logger.info("hop %d: criterion %.4f%s", hop + 1, crit, " (kept)" if accepted else "")
    return best, log
