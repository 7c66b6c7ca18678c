"""Unsupervised speaker-invariant acoustic word embeddings (AWE) from mined pairs.

No word or phone label is used. The pieces:

* :func:`standardize_by_speaker`: z-score every dimension per speaker;
* :func:`cross_speaker_pairs`: mutual nearest neighbours across speakers
  (segment ``i`` of speaker A and ``j`` of speaker B are paired when each is
  among the other's ``k`` nearest segments of other speakers), the
  unsupervised-term-discovery idea on fixed-size vectors;
* :func:`context_pairs`: pairs whose *neighbouring* segments match across
  speakers (mutual nearest neighbours of the previous and next segments'
  vectors, the centre left out), kept when the centres are similar too; the
  centres of a matching context are same-word partners that their own
  nearest-neighbour search would not have picked;
* :func:`fit_lda`: a linear discriminant projection that keeps the directions
  along which mined pairs differ least relative to all segments
  (generalised eigenproblem ``S_total v = lambda S_pairs v``);
* :func:`train_lda_awe`: rounds of mining (segments or contexts) then
  fitting, each round mining in the last round's space (:class:`LinearAWE`
  is the result, with Checkpointer hooks so a killed run resumes after its
  last round);
* :func:`select_n_units`: the number of k-means units chosen without labels,
  from how often mined pairs fall into one unit.

Measured on the 200k-segment Bible corpus (see the recipe's README): mined
segment pairs are the same word 85-87% of the time and their projection
lifts the test speakers' cross-accent same-different AP from 0.73 to 0.78;
context pairs mined in that space are the same word 94% of the time and
lift it to 0.86 (nonlinear encoders trained contrastively on either kind of
pair fell below the input).
"""

import logging

import numpy as np
import scipy.linalg
from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, register_checkpoint_hooks

from speechbrain_align.dataio.manifest import group_by_utterance
from speechbrain_align.retrieval.search import knn, mutual_edges, normalize_rows
from speechbrain_align.speech.units import kmeans_units, reduce_features
from speechbrain_align.utils.files import atomic_save

logger = logging.getLogger(__name__)


def speaker_index(speakers):
    """Speaker names and one integer per item.

    Example
    -------
    >>> names, idx = speaker_index(["b", "a", "b"])
    >>> names, idx.tolist()
    (['a', 'b'], [1, 0, 1])
    """
    names, idx = np.unique(np.asarray(speakers, dtype=str), return_inverse=True)
    return names.tolist(), idx.astype(np.int64)


def standardize_by_speaker(x, speakers, eps=1e-6):
    """Each speaker's rows shifted to zero mean and scaled to unit variance per dimension.

    Example
    -------
    >>> x = np.array([[1.0], [3.0], [10.0], [14.0]])
    >>> standardize_by_speaker(x, ["a", "a", "b", "b"]).ravel().round(4).tolist()
    [-1.0, 1.0, -1.0, 1.0]
    """
    x = np.array(x, dtype=np.float32)
    _, spk = speaker_index(speakers)
    for s in np.unique(spk):
        sel = spk == s
        x[sel] = (x[sel] - x[sel].mean(0)) / (x[sel].std(0) + eps)
    return x


def cross_speaker_pairs(z, speakers, k=5, candidates=30):
    """Mutual ``k``-nearest-neighbour pairs between segments of different speakers.

    Arguments
    ---------
    z : array (n, d)
        Segment vectors (compared by cosine).
    speakers : sequence of str, length n
    k : int
        ``i`` and ``j`` are paired when each is among the other's ``k``
        nearest segments from other speakers.
    candidates : int
        Neighbours searched per segment (cross-speaker ones are taken among
        them; raise it when one speaker dominates the neighbourhoods).

    Returns
    -------
    array (m, 2) of row indices, ``i < j``, sorted.

    Example
    -------
    >>> z = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 1]], dtype="float32")
    >>> cross_speaker_pairs(z, ["a", "b", "a", "b"], k=1, candidates=3).tolist()
    [[0, 1], [2, 3]]
    """
    _, spk = speaker_index(speakers)
    if len(z) != len(spk):
        raise ValueError(f"{len(z)} vectors but {len(spk)} speakers")
    zn = normalize_rows(z)
    _, nn = knn(zn, zn, min(len(zn), int(candidates) + 1))
    cross = spk[nn] != spk[:, None]
    rank = np.cumsum(cross, axis=1)
    chosen = cross & (rank <= k)
    src = np.repeat(np.arange(len(zn)), chosen.sum(1))
    dst = nn[chosen]
    mutual = mutual_edges(src, dst, len(zn))
    pairs = np.stack([src[mutual], dst[mutual]], axis=1)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def utterance_neighbours(rows):
    """Row index of each manifest row's previous and next segment in its utterance (-1 at the edges).

    Utterances and their order come from :func:`~speechbrain_align.dataio.manifest.group_by_utterance`.

    Example
    -------
    >>> rows = [dict(ID=i, utt_id=u, position=p) for i, (u, p) in enumerate([("u", 1), ("u", 0), ("v", 0), ("u", 2)])]
    >>> prev, nxt = utterance_neighbours(rows)
    >>> prev.tolist(), nxt.tolist()
    ([1, -1, -1, 0], [3, 0, -1, -1])
    """
    index = {id(row): i for i, row in enumerate(rows)}
    prev = np.full(len(rows), -1, dtype=np.int64)
    nxt = np.full(len(rows), -1, dtype=np.int64)
    for utt_rows in group_by_utterance(rows).values():
        order = [index[id(row)] for row in utt_rows]
        prev[order[1:]] = order[:-1]
        nxt[order[:-1]] = order[1:]
    return prev, nxt


def context_pairs(z, speakers, prev, nxt, rows=None, k=10, candidates=30, min_cos=0.5, sides="both"):
    """Cross-speaker pairs of segments whose contexts match (row indices of ``z``).

    The context vector of a segment is its previous and next segments'
    unit-length vectors side by side (zeros at an utterance edge; the centre
    itself is left out). Segments of ``rows`` (all when None) with some
    context are paired by :func:`cross_speaker_pairs` on those vectors, and
    a pair is kept when its two centres' cosine in ``z`` is at least ``min_cos``.
    ``sides="each"`` mines the previous segments alone, then the next ones
    alone, and returns the union: partners that share one neighbour and may
    differ in the other, whose coarticulation the projection then learns to
    ignore.

    Returns an array (m, 2) of row indices of ``z``, ``i < j``.

    Example
    -------
    >>> a, b, c, d = np.eye(4, dtype="float32")
    >>> z = np.array([a, c, b, a, 0.8 * c + 0.6 * d, b])  # two speakers say "a c b"
    >>> prev, nxt = utterance_neighbours([dict(utt_id=u, position=p) for u in "uv" for p in range(3)])
    >>> context_pairs(z, ["s"] * 3 + ["t"] * 3, prev, nxt, k=1, candidates=5).tolist()
    [[0, 3], [1, 4], [2, 5]]
    >>> context_pairs(z, ["s"] * 3 + ["t"] * 3, prev, nxt, k=1, candidates=5, min_cos=0.9).tolist()
    [[0, 3], [2, 5]]
    """
    if sides not in ("both", "each"):
        raise ValueError(f"context sides={sides!r}: use 'both' or 'each'")
    if sides == "each":
        none = np.full(len(z), -1, dtype=np.int64)
        found = [context_pairs(z, speakers, p, n, rows, k, candidates, min_cos)
                 for p, n in ((prev, none), (none, nxt))]
        return np.unique(np.concatenate(found), axis=0)
    zn = normalize_rows(z)
    prev, nxt = np.asarray(prev), np.asarray(nxt)
    rows = np.arange(len(zn)) if rows is None else np.asarray(rows, dtype=np.int64)
    rows = rows[(prev[rows] >= 0) | (nxt[rows] >= 0)]

    def side(idx):
        return np.where((idx >= 0)[:, None], zn[np.maximum(idx, 0)], 0.0)

    ctx = np.hstack([side(prev[rows]), side(nxt[rows])])
    pairs = rows[cross_speaker_pairs(ctx, np.asarray(speakers)[rows], k=k, candidates=candidates)]
    centre_cos = (zn[pairs[:, 0]] * zn[pairs[:, 1]]).sum(1)
    return pairs[centre_cos >= min_cos]


def fit_lda(x, pairs, dim, reg=1e-3):
    """Linear discriminant projection from pairs: ``(mean, W)`` with ``z = (x - mean) @ W``.

    Directions are the top generalised eigenvectors of (total covariance,
    within-pair covariance); ``reg`` adds that fraction of the mean
    within-pair variance to its diagonal.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> word = rng.normal(size=(200, 1)) * 3
    >>> x = np.hstack([word + rng.normal(size=(200, 1)) * 0.1, rng.normal(size=(200, 1)) * 3])
    >>> pairs = np.array([[i, i + 100] for i in range(100)])
    >>> x[100:, 0] = x[:100, 0]
    >>> mean, w = fit_lda(x, pairs, 1)
    >>> bool(abs(w[0, 0]) > 10 * abs(w[1, 0]))
    True
    """
    x = np.asarray(x, dtype=np.float64)
    pairs = np.asarray(pairs, dtype=np.int64)
    if len(pairs) < 2:
        raise ValueError(f"fit_lda: {len(pairs)} pairs; need at least 2 to estimate a covariance")
    mean = x.mean(0)
    diff = x[pairs[:, 0]] - x[pairs[:, 1]]
    within = diff.T @ diff / (2 * len(diff))
    within += reg * np.trace(within) / len(within) * np.eye(len(within))
    xc = x - mean
    total = xc.T @ xc / len(xc)
    dim = min(int(dim), x.shape[1])
    _, vecs = scipy.linalg.eigh(total, within, subset_by_index=[x.shape[1] - dim, x.shape[1] - 1])
    return mean.astype(np.float32), vecs[:, ::-1].astype(np.float32)


@register_checkpoint_hooks
class LinearAWE:
    """A fitted projection ``z = (x - mean) @ W`` plus the rounds that made it.

    Saved and loaded by SpeechBrain's Checkpointer (``recoverables``), so a
    killed :func:`train_lda_awe` resumes after its last finished round.

    Example
    -------
    >>> awe = LinearAWE()
    >>> awe.mean, awe.weight = np.zeros(2, "float32"), np.eye(2, 1, dtype="float32")
    >>> awe.transform(np.array([[3.0, 4.0]])).tolist()
    [[3.0]]
    """

    def __init__(self):
        self.mean = None
        self.weight = None
        self.rounds = []

    @property
    def fitted(self):
        """Whether a projection is set."""
        return self.weight is not None

    def transform(self, x):
        """Project rows of ``x`` (float32)."""
        if not self.fitted:
            raise RuntimeError("LinearAWE: no projection fitted yet")
        return ((np.asarray(x, dtype=np.float32) - self.mean) @ self.weight).astype(np.float32)

    @mark_as_saver
    def save(self, path):
        """Write the projection and round history (``.npz``), atomically."""
        import json

        def write(tmp):
            with open(tmp, "wb") as handle:
                np.savez(handle, mean=self.mean if self.fitted else np.zeros(0),
                         weight=self.weight if self.fitted else np.zeros((0, 0)),
                         rounds=np.asarray(json.dumps(self.rounds)))

        atomic_save(path, write)

    @mark_as_loader
    def load(self, path, end_of_epoch=False):
        """Read what :meth:`save` wrote."""
        import json

        with np.load(path, allow_pickle=False) as data:
            self.rounds = json.loads(str(data["rounds"]))
            fitted = data["weight"].size > 0
            self.mean = data["mean"].astype(np.float32) if fitted else None
            self.weight = data["weight"].astype(np.float32) if fitted else None


def train_lda_awe(x, speakers, rounds=2, k=5, candidates=30, dim=200, pca_dim=100,
                  mine_segments=None, reg=1e-3, seed=0, model=None, checkpointer=None, words=None,
                  round_info=None, context=None, start=None, min_cos=0.5, sides="both"):
    """Rounds of cross-speaker pair mining and LDA fitting.

    Round 0 mines in the space of ``start`` (a fitted :class:`LinearAWE`),
    or without one in the PCA (``pca_dim``) space of ``x``; round ``r > 0``
    in the projection of round ``r - 1``. Each round mines among
    ``mine_segments`` random rows (all when None) and fits the projection on
    all of ``x``'s dimensions. Segment pairs (:func:`cross_speaker_pairs`)
    by default; with ``context = (prev, nxt)`` (:func:`utterance_neighbours`)
    context pairs (:func:`context_pairs`, centres' cosine >= ``min_cos``).

    Arguments
    ---------
    x : array (n, d)
        Speaker-standardised segment vectors (:func:`standardize_by_speaker`).
    speakers : sequence of str
    model : LinearAWE, optional
        Resumed state (rounds already done are skipped).
    checkpointer : speechbrain Checkpointer, optional
        Saved after every round (``model`` must be among its recoverables).
    words : sequence of str, optional
        Gold labels, used ONLY to log the mined pairs' precision
        (evaluation; nothing is fitted on them).
    round_info : dict, optional
        Added to every round's record (e.g. a key of the inputs).
    context : (prev, nxt) arrays, optional
        Mine context pairs instead of segment pairs.
    start : LinearAWE, optional
        The space round 0 mines in.

    Returns
    -------
    LinearAWE; ``rounds`` lists per round the number of pairs (and their
    precision when ``words`` were given).
    """
    model = model if model is not None else LinearAWE()
    x = np.asarray(x, dtype=np.float32)
    speakers = np.asarray(speakers, dtype=str)
    for r in range(len(model.rounds), int(rounds)):
        rng = np.random.default_rng(seed + r)
        rows = np.arange(len(x))
        if mine_segments and mine_segments < len(x):
            rows = np.sort(rng.choice(len(x), int(mine_segments), replace=False))
        space = model if model.fitted else start
        if context is not None:
            if space is None:
                raise ValueError("train_lda_awe: context rounds need a fitted start projection")
            pairs = context_pairs(space.transform(x), speakers, *context, rows=rows, k=k,
                                  candidates=candidates, min_cos=min_cos, sides=sides)
        else:
            z = (space.transform(x[rows]) if space is not None
                 else reduce_features(x[rows], pca_dim=min(pca_dim, x.shape[1])))
            pairs = rows[cross_speaker_pairs(z, speakers[rows], k=k, candidates=candidates)]
        model.mean, model.weight = fit_lda(x, pairs, dim, reg=reg)
        info = dict(round_info or {}, round=r, mined=("contexts" if context is not None else "segments"),
                    mined_segments=int(len(rows)), pairs=int(len(pairs)))
        if words is not None and len(pairs):
            words = np.asarray(words)
            info["pair_precision_eval_only"] = float((words[pairs[:, 0]] == words[pairs[:, 1]]).mean())
        model.rounds.append(info)
        logger.info("AWE round %d: %s", r, info)
        if checkpointer is not None:
            checkpointer.save_and_keep_only(meta={"round": r}, num_to_keep=1)
    return model


def pair_agreement(labels, pairs):
    """Fraction of pairs whose two members carry the same label.

    Example
    -------
    >>> pair_agreement(np.array([0, 0, 1, 2]), np.array([[0, 1], [2, 3]]))
    0.5
    """
    labels = np.asarray(labels)
    return float((labels[pairs[:, 0]] == labels[pairs[:, 1]]).mean()) if len(pairs) else float("nan")


def select_n_units(z, speakers, grid=(250, 500, 1000, 2000, 4000), tolerance=0.02,
                   max_segments=50000, k=5, candidates=30, seed=0):
    """Number of k-means units chosen without labels.

    For each ``K`` of ``grid``, k-means the unit-length vectors and measure the agreement of
    cross-speaker mined pairs (fraction falling into one unit). Agreement is
    flat while units are coarser than words and drops once units start
    splitting words (by voice, above all); the largest ``K`` whose agreement
    is within ``tolerance`` (relative) of the smallest ``K``'s is chosen.
    With more than ``max_segments`` rows, a random subset is clustered with
    ``K`` scaled by the subset's share (same segments per unit).

    Returns ``(K, table)`` with the agreement per ``K``.
    """
    rng = np.random.default_rng(seed)
    rows = np.arange(len(z))
    if max_segments and len(z) > max_segments:
        rows = np.sort(rng.choice(len(z), int(max_segments), replace=False))
    zn = normalize_rows(np.asarray(z)[rows])
    pairs = cross_speaker_pairs(zn, np.asarray(speakers)[rows], k=k, candidates=candidates)
    share = len(zn) / len(z)
    table = []
    for n_units in sorted(int(g) for g in grid):
        n_sub = max(2, int(round(n_units * share)))
        if n_sub >= len(zn):
            break
        labels, _ = kmeans_units(zn, n_sub, init="random", seed=seed)
        table.append({"n_units": n_units, "n_units_subset": n_sub,
                      "pair_agreement": pair_agreement(labels, pairs)})
    if not table:
        raise ValueError(f"select_n_units: every K of {list(grid)} needs more than {len(zn)} segments")
    floor = table[0]["pair_agreement"] * (1 - tolerance)
    chosen = max(t["n_units"] for t in table if t["pair_agreement"] >= floor)
    logger.info("unit count selection (%d segments, %d pairs): %s -> %d", len(zn), len(pairs), table, chosen)
    return chosen, table
