"""Gromov-Wasserstein initialisation (Alvarez-Melis and Jaakkola, 2018).

Two spaces are compared through their own similarity matrices only:
entropic Gromov-Wasserstein finds a soft matching ``T`` of the most frequent
words of each side that keeps pairwise similarities, i.e. it minimises
``sum (C1[i,k] - C2[j,l])**2 T[i,j] T[k,l]`` under uniform marginals, with an
entropy term of weight ``epsilon``. Each outer iteration linearises the loss
at the current ``T`` and solves the entropic transport by Sinkhorn's
log-domain recurrence, computed in the stabilised scaling form
(:func:`sinkhorn_potentials`). The matching does not depend on a rotation of
either space, so it needs no supervision; its row and column maxima give a
seed dictionary for the same self-learning and refinement as vecmap
(:mod:`.pipeline`).

With ``frequency_weight`` > 0 the matching is *fused* (Vayer et al., 2019):
a linear cost between the words' frequency ranks, ``(log(1+i) - log(1+j))**2``
for the ``i``-th and ``j``-th most frequent words, is mixed into the loss.
It uses no labels, only each side's own word counts, and holds the matching
of the most frequent words near their frequency order when the similarity
structure alone is too noisy to place them (units merged from noisy
segments, README). With ``mass_power`` > 0 the marginals are the words'
counts to that power instead of uniform.
"""

import logging

import numpy as np
import torch

from speechbrain_align.retrieval.dense import mutual_or_union

logger = logging.getLogger(__name__)


def frequency_rank_cost(n, m):
    """``(n, m)`` squared differences of log frequency ranks (rank 0 = most frequent).

    Example
    -------
    >>> c = frequency_rank_cost(3, 4)
    >>> c.shape, float(c[0, 0]), bool(c[0, 3] > c[0, 1] > 0)
    ((3, 4), 0.0, True)
    """
    return (np.log1p(np.arange(n))[:, None] - np.log1p(np.arange(m))[None, :]) ** 2


def entropic_gromov_wasserstein(c1, c2, epsilon=1e-3, n_iters=30, sinkhorn_iters=200,
                                tol=1e-5, feature_cost=None, alpha=0.0, p=None, q=None,
                                scaling=True):
    """Coupling of two similarity matrices; returns ``(T, loss)``.

    ``c1`` is ``(n, n)``, ``c2`` is ``(m, m)``; the marginals ``p`` and ``q``
    (positive, normalised here) are uniform when None. ``T`` is an ``(n, m)``
    array whose rows sum to ``p`` and columns to ``q``;
    ``loss`` is the linearised cost at the last ``T``. Sinkhorn
    (warm-started from the previous outer iteration's potentials) stops early
    once no log-potential moves by more than ``tol``. With an ``(n, m)``
    ``feature_cost`` and ``alpha`` in [0, 1], the fused loss is
    ``(1 - alpha) * GW + alpha * <feature_cost, T>``, the feature cost first
    rescaled to the mean of the square loss's constant part (so that
    ``alpha`` weighs two terms of one scale). ``scaling``: see
    :func:`sinkhorn_potentials`.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(30, 4))
    >>> perm = rng.permutation(30)
    >>> t, _ = entropic_gromov_wasserstein(x @ x.T, (x @ x.T)[perm][:, perm], epsilon=0.05)
    >>> bool(np.all(t.argmax(1) == np.argsort(perm)))
    True
    """
    c1 = torch.as_tensor(np.asarray(c1, dtype=np.float64))
    c2 = torch.as_tensor(np.asarray(c2, dtype=np.float64))
    n, m = len(c1), len(c2)
    p = torch.full((n,), 1.0 / n, dtype=torch.float64) if p is None else _mass(p, n)
    q = torch.full((m,), 1.0 / m, dtype=torch.float64) if q is None else _mass(q, m)
    log_p, log_q = p.log(), q.log()
    # Square loss: the part of the cost that does not depend on T
    const = ((c1 ** 2) @ p)[:, None] + ((c2 ** 2) @ q)[None, :]
    linear = torch.zeros((n, m), dtype=torch.float64)
    if feature_cost is not None and alpha > 0:
        linear = torch.as_tensor(np.asarray(feature_cost, dtype=np.float64))
        linear = linear / max(float(linear.mean()), 1e-12) * float(const.mean())
    coupling = torch.exp(log_p[:, None] + log_q[None, :])
    f = torch.zeros(n, dtype=torch.float64)
    g = torch.zeros(m, dtype=torch.float64)
    loss = float("nan")
    for _ in range(int(n_iters)):
        cost = (1.0 - alpha) * (const - 2.0 * c1 @ coupling @ c2.T) + alpha * linear
        kernel = -cost / epsilon
        f, g = sinkhorn_potentials(kernel, log_p, log_q, f, g, sinkhorn_iters, tol,
                                   scaling=scaling)
        coupling = torch.exp(kernel + f[:, None] + g[None, :])
        loss = float((cost * coupling).sum())
    return coupling.numpy(), loss


def sinkhorn_potentials(kernel, log_p, log_q, f, g, n_iters, tol, bound=1e30, scaling=True):
    """Log-domain Sinkhorn potentials ``(f, g)`` for ``exp(kernel + f + g)``, warm-started.

    Each iteration sets ``f = log_p - logsumexp(kernel + g, 1)``, then ``g = log_q -
    logsumexp(kernel + f, 0)``, and stops once no entry of ``f`` moved by more than
    ``tol``. The first iteration runs in the log domain; the others run in the
    scaling form of the same recurrence (``u = p / (K v)``, ``v = q / (K^T u)`` with
    ``K = exp(kernel + f + g)`` absorbed, Schmitzer 2019): two products with ``K``
    instead of two passes of exponentials, with the scalings absorbed into the
    potentials whenever one leaves ``[1 / bound, bound]``. ``scaling=False`` runs
    every iteration in the log domain (the reference; same results up to rounding).

    Example
    -------
    >>> kernel = -torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64) / 0.1
    >>> half = torch.log(torch.full((2,), 0.5, dtype=torch.float64))
    >>> f, g = sinkhorn_potentials(kernel, half, half, torch.zeros(2, dtype=torch.float64),
    ...                  torch.zeros(2, dtype=torch.float64), 50, 1e-12)
    >>> t = torch.exp(kernel + f[:, None] + g[None, :])
    >>> [round(float(v), 6) for v in (t.sum(1)[0], t.sum(0)[1])]
    [0.5, 0.5]
    """
    for _ in range(int(n_iters) if not scaling else min(1, int(n_iters))):
        f, g, change = _log_domain_step(kernel, log_p, log_q, f, g)
        if change < tol:
            return f, g
    if not scaling or n_iters < 1:
        return f, g
    p, q = log_p.exp(), log_q.exp()
    k = torch.exp(kernel + f[:, None] + g[None, :])
    u = torch.ones_like(f)
    v = torch.ones_like(g)
    for _ in range(int(n_iters) - 1):
        u_new = p / (k @ v)
        if not bool(torch.all((u_new > 1 / bound) & (u_new < bound))):
            # absorb the scalings and run this iteration in the log domain
            f, g, change = _log_domain_step(kernel, log_p, log_q, f + u.log(), g + v.log())
            k = torch.exp(kernel + f[:, None] + g[None, :])
            u, v = torch.ones_like(f), torch.ones_like(g)
        else:
            change = float((u_new.log() - u.log()).abs().max())
            u = u_new
            v = q / (k.T @ u)
            if not bool(torch.all((v > 1 / bound) & (v < bound))):
                # absorb u and take this g in the log domain
                f = f + u.log()
                g = log_q - torch.logsumexp(kernel + f[:, None], 0)
                k = torch.exp(kernel + f[:, None] + g[None, :])
                u, v = torch.ones_like(f), torch.ones_like(g)
        if change < tol:
            break
    return f + u.log(), g + v.log()


def _log_domain_step(kernel, log_p, log_q, f, g):
    """One log-domain Sinkhorn iteration: the new ``f``, the new ``g`` and how far ``f`` moved."""
    f_new = log_p - torch.logsumexp(kernel + g[None, :], 1)
    change = float((f_new - f).abs().max())
    return f_new, log_q - torch.logsumexp(kernel + f_new[:, None], 0), change


def _mass(weights, size):
    """A marginal: positive ``weights`` of length ``size``, normalised to sum to 1."""
    w = torch.as_tensor(np.asarray(weights, dtype=np.float64))
    if w.shape != (size,):
        raise ValueError(f"marginal: expected {size} weights, got shape {tuple(w.shape)}")
    if not bool(torch.all(w > 0)):
        raise ValueError(f"marginal: expected {size} positive weights, got {int((w <= 0).sum())} "
                         f"that are not")
    return w / w.sum()


def gromov_init(src, tgt, vocab=1000, epsilon=1e-3, n_iters=30, sinkhorn_iters=200,
                frequency_weight=0.0, src_counts=None, tgt_counts=None, mass_power=0.0):
    """Seed dictionary from a Gromov-Wasserstein matching of the ``vocab`` most
    frequent rows of each space (rows sorted by decreasing frequency), fused
    with their frequency ranks when ``frequency_weight`` (``alpha``) > 0.

    With ``mass_power`` > 0 each word's mass in the matching is its count to
    that power (``src_counts``, ``tgt_counts``: the rows' counts) instead of
    uniform, so that a word split into several speech types (one per voice)
    can send each part to the same text word.

    The similarity matrices are the rows' dot products (cosines for
    unit-length rows). Returns an ``(k, 2)`` array of (source, target)
    indices: the union of each source row's best target and each target
    row's best source under the coupling.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(40, 6)); x /= np.linalg.norm(x, axis=1, keepdims=True)
    >>> q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    >>> d = gromov_init(x, x @ q.T, vocab=40, epsilon=0.01)
    >>> float(np.mean(d[:, 0] == d[:, 1])) > 0.9
    True
    """
    n = min(int(vocab), len(src), len(tgt))
    xs = np.asarray(src[:n], dtype=np.float64)
    zs = np.asarray(tgt[:n], dtype=np.float64)
    masses = (None, None)
    if mass_power > 0:
        masses = [np.asarray(c[:n], dtype=np.float64) ** mass_power
                  for c in (src_counts, tgt_counts)]
    coupling, loss = entropic_gromov_wasserstein(
        xs @ xs.T, zs @ zs.T, epsilon, n_iters, sinkhorn_iters,
        feature_cost=frequency_rank_cost(n, n), alpha=frequency_weight, p=masses[0],
        q=masses[1])
    logger.info("Gromov-Wasserstein on %d words (frequency weight %g): loss %.5f", n,
                frequency_weight, loss)
    return mutual_or_union(coupling.argmax(1), coupling.argmax(0), "union")
