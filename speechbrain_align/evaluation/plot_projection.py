"""2-D PCA projections of speech and text vectors before and after alignment."""

import numpy as np

from speechbrain_align.evaluation.plot_common import PlotInputError, _figure, _save
from speechbrain_align.speech.clustering import reduce_features


def pca_2d(*matrices):
    """Project the rows of all ``matrices`` (same dim) onto their joint top-2 PCs.

    The PCA is :func:`speechbrain_align.speech.clustering.reduce_features`
    (the sign of each axis is arbitrary); a missing second axis (1-D input)
    is zero.

    Example
    -------
    >>> a, b = pca_2d(np.eye(3), np.ones((2, 3)))
    >>> a.shape, b.shape
    ((3, 2), (2, 2))
    """
    stacked = np.concatenate([np.asarray(m, dtype=np.float64) for m in matrices])
    proj = reduce_features(stacked, pca_dim=2).astype(np.float64)
    if proj.shape[1] < 2:
        proj = np.hstack([proj, np.zeros((len(proj), 2 - proj.shape[1]))])
    out, start = [], 0
    for m in matrices:
        out.append(proj[start : start + len(m)])
        start += len(m)
    return out


def _unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _words_vectors(emb, name):
    if hasattr(emb, "words") and hasattr(emb, "vectors"):
        words, vectors = list(emb.words), np.asarray(emb.vectors)
    elif isinstance(emb, tuple) and len(emb) == 2:
        words, vectors = list(emb[0]), np.asarray(emb[1])
    else:
        raise PlotInputError(f"{name}: expected Embeddings or (words, vectors)")
    if vectors.ndim != 2 or len(words) != len(vectors) or len(words) < 2:
        raise PlotInputError(
            f"{name}: need >= 2 words with a (n_words, dim) matrix, got {len(words)} words "
            f"and shape {vectors.shape}"
        )
    if not np.isfinite(vectors).all():
        raise PlotInputError(f"{name}: non-finite values in the vectors")
    return words, vectors


def plot_alignment_projection(
    path, speech, text, mapped_speech, label_words=None, n_labels=12, max_points=2000, title=None
):
    """Write :func:`draw_alignment_projection` as a PNG at ``path`` and return ``path``."""
    fig = draw_alignment_projection(
        speech, text, mapped_speech, label_words=label_words, n_labels=n_labels,
        max_points=max_points, title=title,
    )
    return _save(fig, path)


def draw_alignment_projection(
    speech, text, mapped_speech, label_words=None, n_labels=12, max_points=2000, title=None
):
    """2-D PCA of speech and text vectors before (left) and after (right) alignment.

    Before alignment the two spaces are projected on their joint PCs when
    they have the same dimension, otherwise each on its own PCs (side by
    side in one panel would be meaningless, so they share axes but not a
    basis). After alignment the mapped speech vectors and the text vectors
    share one PCA basis; a labelled word's speech and text points are joined
    by a line, so good alignment shows short lines.

    Arguments
    ---------
    speech, text, mapped_speech : Embeddings or (words, vectors)
        Speech vectors before mapping, text vectors, speech vectors after
        mapping (same words as ``speech``). Rows are unit-normalised here.
    label_words : list of str, optional
        Words to label; default the first ``n_labels`` words present in
        both spaces (usually the most frequent).
    max_points : int
        At most this many points per space are drawn (the first ones).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two axes; in each, the first scatter is speech, the second text, and
        one grey line per labelled word joins its speech and text points.
    """
    s_words, s_vec = _words_vectors(speech, "speech")
    t_words, t_vec = _words_vectors(text, "text")
    m_words, m_vec = _words_vectors(mapped_speech, "mapped_speech")
    if m_words != s_words:
        raise PlotInputError("mapped_speech must have the same words, in order, as speech")
    if m_vec.shape[1] != t_vec.shape[1]:
        raise PlotInputError(
            f"mapped_speech has dimension {m_vec.shape[1]} but text has {t_vec.shape[1]}"
        )
    t_index = {w: i for i, w in enumerate(t_words)}
    shared = [w for w in s_words if w in t_index]
    if label_words is None:
        label_words = shared[:n_labels]
    else:
        absent = [w for w in label_words if w not in t_index or w not in s_words]
        if absent:
            raise PlotInputError(f"label_words not in both spaces: {absent[:5]}")
    s_index = {w: i for i, w in enumerate(s_words)}
    keep_s = sorted(set(range(min(len(s_words), max_points))) | {s_index[w] for w in label_words})
    keep_t = sorted(set(range(min(len(t_words), max_points))) | {t_index[w] for w in label_words})
    s_vec, m_vec, t_vec = _unit(s_vec[keep_s]), _unit(m_vec[keep_s]), _unit(t_vec[keep_t])
    s_pos = {s_words[i]: j for j, i in enumerate(keep_s)}
    t_pos = {t_words[i]: j for j, i in enumerate(keep_t)}

    if s_vec.shape[1] == t_vec.shape[1]:
        before_s, before_t = pca_2d(s_vec, t_vec)
        before_note = "joint PCA"
    else:
        (before_s,), (before_t,) = pca_2d(s_vec), pca_2d(t_vec)
        before_note = "separate PCA per space"
    after_s, after_t = pca_2d(m_vec, t_vec)

    fig = _figure(12, 5.5)
    axes = fig.subplots(1, 2)
    panels = [
        (axes[0], before_s, before_t, f"before alignment ({before_note})"),
        (axes[1], after_s, after_t, "after alignment (mapped speech, joint PCA)"),
    ]
    for ax, ps, pt, name in panels:
        ax.scatter(ps[:, 0], ps[:, 1], s=6, alpha=0.35, c="tab:blue", label="speech")
        ax.scatter(pt[:, 0], pt[:, 1], s=6, alpha=0.35, c="tab:orange", label="text")
        for word in label_words:
            a, b = ps[s_pos[word]], pt[t_pos[word]]
            ax.plot([a[0], b[0]], [a[1], b[1]], c="grey", lw=0.6, alpha=0.7)
            ax.annotate(word, a, color="tab:blue", fontsize=8)
            ax.annotate(word, b, color="tab:orange", fontsize=8)
        ax.set_title(name)
        ax.legend(loc="best", fontsize=8, markerscale=3)
    if title:
        fig.suptitle(title)
    return fig
