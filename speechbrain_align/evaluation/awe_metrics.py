"""Evaluation of acoustic word embeddings: same-different AP by pair kind, purity.

Same-different average precision (Carlin et al., 2011): every pair of
evaluation segments is scored by cosine; a pair is positive when both are the
same word; AP ranks all pairs of one *kind*:

* ``same_speaker``: two segments of one speaker;
* ``cross_speaker_same_accent``: two speakers sharing an accent;
* ``cross_accent``: two speakers of different accents.

:func:`same_different_ap` takes a ``focus`` set of speakers (the test
speakers): same-speaker and cross-accent pairs are counted only between focus
speakers, and same-accent pairs between a focus speaker and any speaker of
its accent (the Bible corpus's 4 test speakers have 4 different accents).
Scores are binned (``bins`` steps over [-1, 1]; ties within a bin count as
one threshold, as in ``sklearn.metrics.average_precision_score`` on rounded
scores), so millions of pairs take little memory.

Gold words are used here only, for evaluation; nothing is fitted on them.
"""

import json
import logging

import numpy as np

from speechbrain_align.retrieval.search import normalize_rows

logger = logging.getLogger(__name__)

PAIR_KINDS = ("same_speaker", "cross_speaker_same_accent", "cross_accent")


def accent_of(voice):
    """The accent part of an espeak-ng voice name (``"en-us+m3"`` -> ``"en-us"``)."""
    return str(voice).split("+")[0]


def speaker_accents(corpus_stats_path):
    """``spk_id -> accent`` from a synthetic corpus's ``corpus_stats.json`` speaker table."""
    with open(corpus_stats_path, encoding="utf-8") as handle:
        table = json.load(handle).get("speaker_table") or []
    return {row["spk_id"]: accent_of(row["voice"]) for row in table}


def average_precision_from_counts(positives, negatives):
    """AP of a ranking given per-threshold counts, best threshold first.

    Example
    -------
    >>> average_precision_from_counts(np.array([1, 0, 1]), np.array([0, 1, 0]))
    0.8333333333333333
    """
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    if pos.sum() == 0:
        return None
    hits = np.cumsum(pos)
    precision = hits / np.maximum(hits + np.cumsum(neg), 1)
    return float((pos * precision).sum() / pos.sum())


def same_different_ap(vectors, words, speakers, accents=None, focus=None, bins=20000, block=2048):
    """Same-different AP per pair kind (see the module docstring).

    Arguments
    ---------
    vectors : array (n, d)
    words, speakers : sequences of str, length n
    accents : dict, optional
        Speaker -> accent (default: every speaker its own accent).
    focus : iterable of str, optional
        Focus speakers (default: all).
    bins : int
        Score resolution.

    Returns
    -------
    dict with ``sd_ap_<kind>`` (None when a kind has no positive pair),
    ``n_pairs_<kind>`` and ``n_positive_<kind>``.

    Example
    -------
    >>> v = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1]])
    >>> r = same_different_ap(v, ["a", "a", "b", "b"], ["s", "t", "s", "t"])
    >>> r["sd_ap_cross_accent"], r["n_pairs_cross_accent"], r["sd_ap_same_speaker"]
    (1.0, 4, None)
    """
    x = normalize_rows(vectors)
    n = len(x)
    if not len(words) == len(speakers) == n:
        raise ValueError(f"{n} vectors, {len(words)} words and {len(speakers)} speakers")
    accents = accents or {}
    word_id = np.unique(np.asarray(words, dtype=str), return_inverse=True)[1]
    spk_names, spk_id = np.unique(np.asarray(speakers, dtype=str), return_inverse=True)
    acc_id = np.unique([accents.get(s, s) for s in spk_names], return_inverse=True)[1][spk_id]
    focus_mask = np.ones(n, bool) if focus is None else np.isin(np.asarray(speakers, dtype=str), list(focus))
    # Every counted pair has a focus segment: order the focus segments first
    # and pair each with the segments after it (pairs of two other speakers'
    # segments are never counted, so they are never scored).
    order = np.concatenate([np.flatnonzero(focus_mask), np.flatnonzero(~focus_mask)])
    x, word_id, spk_id, acc_id = x[order], word_id[order], spk_id[order], acc_id[order]
    n_focus = int(focus_mask.sum())
    # one histogram per (kind, positive): kind 0-2 as PAIR_KINDS, 3 = not counted
    counts = np.zeros(4 * 2 * bins, dtype=np.int64)
    for start in range(0, n_focus, block):
        stop = min(n_focus, start + block)
        cols = slice(start, n)
        later = np.arange(start, n)[None] > np.arange(start, stop)[:, None]
        both = np.arange(start, n)[None] < n_focus  # the row is a focus segment
        same_spk = spk_id[start:stop, None] == spk_id[None, cols]
        same_acc = acc_id[start:stop, None] == acc_id[None, cols]
        kind = np.full(later.shape, 3, dtype=np.int32)
        kind[same_acc & ~same_spk] = 1
        kind[both & same_spk] = 0
        kind[both & ~same_acc] = 2
        score_bin = np.clip(((x[start:stop] @ x[cols].T + 1) / 2 * bins).astype(np.int32), 0, bins - 1)
        positive = word_id[start:stop, None] == word_id[None, cols]
        code = (kind[later] * 2 + positive[later]) * bins + score_bin[later]
        counts += np.bincount(code, minlength=len(counts))
    counts = counts.reshape(4, 2, bins)
    out = {}
    for k, kind in enumerate(PAIR_KINDS):
        out[f"sd_ap_{kind}"] = average_precision_from_counts(counts[k, 1, ::-1], counts[k, 0, ::-1])
        out[f"n_pairs_{kind}"] = int(counts[k].sum())
        out[f"n_positive_{kind}"] = int(counts[k, 1].sum())
    return out


def cluster_purity(labels, words):
    """Purity (majority word share of each cluster) and inverse purity (majority cluster share of each word).

    Example
    -------
    >>> cluster_purity([0, 0, 1, 1], ["a", "a", "a", "b"])
    (0.75, 0.75)
    """
    lab = np.unique(np.asarray(labels), return_inverse=True)[1]
    wid = np.unique(np.asarray(words, dtype=str), return_inverse=True)[1]
    table = np.zeros((lab.max() + 1, wid.max() + 1), dtype=np.int64)
    np.add.at(table, (lab, wid), 1)
    n = len(lab)
    return float(table.max(1).sum() / n), float(table.max(0).sum() / n)


def evaluation_sample(speakers, focus, accents=None, max_focus=8000, max_partners=8000, seed=0):
    """Row indices to evaluate on: focus speakers' segments plus same-accent partners'.

    At most ``max_focus`` segments of the focus speakers and ``max_partners``
    of the other speakers who share an accent with a focus speaker (drawn
    with ``seed``), sorted.
    """
    rng = np.random.default_rng(seed)
    speakers = np.asarray(speakers, dtype=str)
    accents = accents or {}
    focus = set(focus)
    focus_acc = {accents.get(s, s) for s in focus}
    is_focus = np.isin(speakers, list(focus))
    partner = ~is_focus & np.isin([accents.get(s, s) for s in speakers], list(focus_acc))
    picked = []
    for mask, cap in ((is_focus, max_focus), (partner, max_partners)):
        idx = np.flatnonzero(mask)
        if cap is not None and len(idx) > cap:
            idx = rng.choice(idx, int(cap), replace=False)
        picked.append(idx)
    return np.sort(np.concatenate(picked))


def evaluate_embedding(vectors, words, speakers, eval_rows, focus, accents=None, cluster_labels=None,
                       bins=20000):
    """The ``acoustic_word_embeddings`` entry of one embedding.

    Same-different APs on ``eval_rows`` (see :func:`same_different_ap`), and
    purity / inverse purity of ``cluster_labels`` (one per row of
    ``vectors``; e.g. the k-means units) over the focus speakers' segments.

    Returns a dict with ``sd_ap_same_speaker``, ``sd_ap_cross_speaker_same_accent``,
    ``sd_ap_cross_accent``, ``purity``, ``inverse_purity``, ``n_units`` and pair counts.
    """
    words = np.asarray(words, dtype=str)
    speakers = np.asarray(speakers, dtype=str)
    eval_rows = np.asarray(eval_rows, dtype=np.int64)
    out = same_different_ap(np.asarray(vectors)[eval_rows], words[eval_rows], speakers[eval_rows],
                            accents, focus, bins=bins)
    out.update({"purity": None, "inverse_purity": None, "n_units": None})
    if cluster_labels is not None:
        labels = np.asarray(cluster_labels)
        sel = np.isin(speakers, list(focus))
        out["purity"], out["inverse_purity"] = cluster_purity(labels[sel], words[sel])
        out["n_units"] = int(len(np.unique(labels)))
    return out


def plot_ap_by_pair_kind(results, path, title=None):
    """Grouped bars: same-different AP per pair kind for each embedding.

    ``results`` maps an embedding name to a dict with ``sd_ap_<kind>`` keys
    (None bars are left out). Writes the PNG ``path`` atomically.
    """
    from speechbrain_align.evaluation.plots import PlotInputError, _figure, _save

    names = list(results)
    if not names:
        raise PlotInputError("plot_ap_by_pair_kind: no embedding to plot")
    fig = _figure(max(5.0, 1.2 * len(names) + 2), 3.6)
    ax = fig.add_subplot()
    width = 0.8 / len(PAIR_KINDS)
    for k, kind in enumerate(PAIR_KINDS):
        xs, ys = [], []
        for i, name in enumerate(names):
            value = results[name].get(f"sd_ap_{kind}")
            if value is not None:
                xs.append(i + (k - 1) * width)
                ys.append(value)
        bars = ax.bar(xs, ys, width, label=kind.replace("_", " "))
        for bar, value in zip(bars, ys):
            ax.annotate(f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, value),
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=15, ha="right")
    ax.set_ylim(0, 1.18)
    ax.set_ylabel("same-different AP")
    ax.legend(fontsize=8, loc="upper center", ncol=len(PAIR_KINDS), frameon=False)
    if title:
        ax.set_title(title)
    _save(fig, path)
    return path
