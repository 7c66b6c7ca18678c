"""Cluster-wise removal of speaker offsets (speechbrain_align.speech.harmony)."""

import numpy as np
import pytest

from speechbrain_align.speech.harmony import harmonize


def _words_by_voice(seed=0, n=60, dim=16):
    """Three words, two speakers; each word's speaker shift is its own (not one per speaker)."""
    rng = np.random.default_rng(seed)
    centres = 3 * rng.normal(size=(3, dim))
    word = np.repeat(np.arange(3), n)
    speaker = np.tile(np.array(["a", "b"]), 3 * n // 2)
    shift = rng.normal(size=(3, dim))  # speaker b's offset, word by word
    x = centres[word] + 0.2 * rng.normal(size=(3 * n, dim))
    x[speaker == "b"] += shift[word[speaker == "b"]]
    return x.astype(np.float32), word, speaker


def _speaker_gap_and_word_gap(z, word, speaker):
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    gap = np.mean([np.linalg.norm(z[(word == w) & (speaker == "a")].mean(0)
                                  - z[(word == w) & (speaker == "b")].mean(0)) for w in range(3)])
    means = np.stack([z[word == w].mean(0) for w in range(3)])
    between = min(np.linalg.norm(means[i] - means[j]) for i in range(3) for j in range(i + 1, 3))
    return gap, between


def test_word_specific_speaker_offsets_are_removed_and_words_stay_apart():
    x, word, speaker = _words_by_voice()
    before, _ = _speaker_gap_and_word_gap(x, word, speaker)
    z = harmonize(x, speaker, n_clusters=3, rounds=2, seed=0)
    after, between = _speaker_gap_and_word_gap(z, word, speaker)
    assert z.shape == x.shape and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    assert after < 0.3 * before
    assert between > 3 * after  # the words are not merged into one
    # a ridge so strong that no offset is fitted leaves the speakers apart
    kept, _ = _speaker_gap_and_word_gap(harmonize(x, speaker, n_clusters=3, ridge=1e9), word, speaker)
    assert kept > 0.9 * before
    # one cluster is one offset per speaker: it cannot remove word-specific shifts
    one, _ = _speaker_gap_and_word_gap(harmonize(x, speaker, n_clusters=1, rounds=2), word, speaker)
    assert one > 0.8 * before
    # the same seed gives the same vectors
    assert np.array_equal(z, harmonize(x, speaker, n_clusters=3, rounds=2, seed=0))


def test_bad_settings_are_refused_with_their_name():
    x, _, speaker = _words_by_voice(n=4)
    with pytest.raises(ValueError, match="n_clusters"):
        harmonize(x, speaker, n_clusters=len(x) + 1)
    with pytest.raises(ValueError, match="speakers"):
        harmonize(x, speaker[:-1], n_clusters=2)
    with pytest.raises(ValueError, match="theta"):
        harmonize(x, speaker, n_clusters=2, theta=-1)
    with pytest.raises(ValueError, match="sigma"):
        harmonize(x, speaker, n_clusters=2, sigma=0)
