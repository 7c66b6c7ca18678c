"""Label-free unit merges (speechbrain_align.speech.unit_merge)."""
import numpy as np
import pytest

from speechbrain_align.speech.unit_merge import (
    context_merge, mutual_neighbour_pairs, speaker_constrained_merge)


def _voice_split_units(n_speakers=4, seed=0):
    """Two words, one unit per (word, speaker); a speaker's voice moves both of its units
    alike, more than the two words differ: nearest units chain across words by voice."""
    rng = np.random.default_rng(seed)
    words = np.array([[1.0, 0, 0, 0], [1.0, 0.35, 0, 0]])
    voices = np.linspace(-0.6, 0.6, n_speakers)
    centroids, counts, truth = [], [], []
    for w, centre in enumerate(words):
        for s, v in enumerate(voices):
            centroids.append(centre + [0, 0, v, 0.5 * v] + rng.normal(0, 0.01, 4))
            row = np.zeros(n_speakers)
            row[s] = 20
            counts.append(row)
            truth.append(w)
    return np.array(centroids), np.array(counts), np.array(truth)


def _same_partition(a, b):
    return all((a[i] == a[j]) == (b[i] == b[j]) for i in range(len(a)) for j in range(len(a)))


def test_speaker_constraint_keeps_voices_of_one_word_together_and_words_apart():
    centroids, counts, truth = _voice_split_units()
    unconstrained = speaker_constrained_merge(centroids, counts, k=7, min_cos=0.0, max_overlap=1.0)
    assert unconstrained.max() == 0  # plain single linkage chains both words into one
    groups = speaker_constrained_merge(centroids, counts, k=7, min_cos=0.0, max_overlap=0.2)
    assert _same_partition(groups, truth)


def test_speaker_merge_respects_the_cosine_floor_and_checks_shapes():
    centroids, counts, _ = _voice_split_units()
    assert len(set(speaker_constrained_merge(centroids, counts, min_cos=1.01).tolist())) == 8
    with pytest.raises(ValueError, match="8 centroids but 3 rows"):
        speaker_constrained_merge(centroids, counts[:3])


def test_context_merge_needs_both_sound_and_context():
    acoustic = np.array([[1, 0], [0.98, 0.05], [0.97, 0.1], [0, 1]])
    # types 0 and 1 occur alike; type 2 sounds like them but occurs elsewhere
    context = np.array([[1, 0, 0], [0.95, 0.1, 0], [0, 0, 1], [0, 1, 0]])
    groups = context_merge(acoustic, context, k=2, min_acoustic=0.9, min_context=0.5)
    assert groups[0] == groups[1] and len(set(groups.tolist())) == 3
    with pytest.raises(ValueError, match="4 acoustic vectors but 2 context"):
        context_merge(acoustic, context[:2])


def test_mutual_pairs_are_mutual_and_best_first():
    x = np.random.default_rng(1).normal(size=(40, 5)).astype(np.float32)
    scores, pairs = mutual_neighbour_pairs(x, k=3)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1)[:, :3]
    for (i, j), s in zip(pairs, scores):
        assert i < j and j in top[i] and i in top[j] and s == pytest.approx(sims[i, j], rel=1e-5)
    assert np.all(np.diff(scores) <= 0)
    expected = {(i, j) for i in range(40) for j in top[i] if i < j and i in top[j]}
    assert {tuple(p) for p in pairs.tolist()} == expected
