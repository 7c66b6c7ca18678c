"""Cross-modal evaluation of speech spaces (config A and clusters) on a toy case with a known answer."""

import numpy as np
import pytest

from speechbrain_align.dataio.vectors import Embeddings
from speechbrain_align.evaluation.crossmodal import cluster_space, evaluate_space, label_space, normalize_like

STEPS = ["unit", "center", "unit"]


def _toy(n=40, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n)]
    text = Embeddings(words, rng.normal(size=(n, dim)), counts=np.arange(n, 0, -1) * 10)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    # speech = text @ q, so text = speech @ q.T: the mapping is W = q (y = x W^T)
    speech = Embeddings(words, text.vectors @ q, counts=text.counts)
    return text, speech, q.astype(np.float32), rng


def test_label_space_recovers_words_with_true_mapping():
    text, speech, w_true, rng = _toy()
    seg_ids = [f"s{i}" for i in range(80)]
    gold = [f"w{i % 40}" for i in range(80)]
    seg_vecs = speech.vectors[[i % 40 for i in range(80)]] + 0.01 * rng.normal(size=(80, 8))
    rows = [{"ID": s, "word": g} for s, g in zip(seg_ids, gold)]
    space = label_space("A", speech, Embeddings(seg_ids, seg_vecs), rows)
    # W learned on normalised spaces: centring both spaces keeps the rotation exact
    res = evaluate_space(space, text, w_true, ["unit"], synonyms={"w0": {"w1"}})
    assert res["classification"]["n_scored"] == 80
    assert res["classification"]["nn_P@1"] == 100.0
    wrong = evaluate_space(space, text, np.eye(8, dtype=np.float32), ["unit"])
    assert wrong["classification"]["nn_P@1"] < 50.0
    # synonyms: the query word itself is excluded, so w0's best other candidate is scored
    assert res["synonyms"]["n_scored"] == 1
    assert res["word_types"]["top500_csls_P@1"] == 100.0 and res["word_types"]["n_top500"] == 40
    assert wrong["word_types"]["top500_csls_P@1"] < 50.0


def test_translation_uses_labels_and_dictionary():
    text, speech, w_true, _ = _toy()
    foreign = Embeddings([f"f{i}" for i in range(40)], text.vectors, text.counts)
    space = label_space("A", speech, None, [])
    pairs = [(f"w{i}", f"f{i}") for i in range(40)]
    res = evaluate_space(space, foreign, w_true, ["unit"], dictionary=pairs)
    assert set(res) == {"translation", "word_types"}
    assert res["translation"]["csls_P@1"] == 100.0
    # type level: gold = each type's label translated; all 40 types in the top-500 band
    assert res["word_types"]["n_top500"] == 40 and res["word_types"]["top500_csls_P@1"] == 100.0
    assert res["word_types"]["n_ranks500_1000"] == 0
    wrong = evaluate_space(space, foreign, np.eye(8, dtype=np.float32), ["unit"], dictionary=pairs)
    assert wrong["word_types"]["top500_csls_P@1"] < 50.0


def test_cluster_space_majority_labels_and_segment_items():
    types = Embeddings(["c0", "c1"], np.eye(2), counts=[3, 1])
    train_rows = [{"ID": "a", "word": "x"}, {"ID": "b", "word": "x"}, {"ID": "c", "word": "y"}, {"ID": "d", "word": "y"}]
    assign = {"a": "c0", "b": "c0", "c": "c0", "d": "c1"}
    space = cluster_space("B", types, assign, train_rows, {"t1": "c1", "t2": "c0"}, [{"ID": "t1", "word": "y"}, {"ID": "t2", "word": "z"}, {"ID": "t3", "word": "x"}])
    assert space.labels == {"c0": "x", "c1": "y"}
    assert space.test_items == [("c1", "y"), ("c0", "z")]
    assert space.label_dictionary({"x"}) == [("c0", "x")]


def test_normalize_like_uses_reference_mean():
    ref = np.array([[2.0, 0.0], [0.0, 2.0]])
    out = normalize_like(np.array([[2.0, 0.0]]), ref, STEPS)
    expected = np.array([[0.5, -0.5]]) / np.linalg.norm([0.5, -0.5])
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    with pytest.raises(ValueError):
        normalize_like(ref, ref, ["bogus"])
