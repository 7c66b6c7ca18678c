"""Task metrics (P@k, skips, CSLS vs NN), result tables and the evaluation CLI."""

import json

import numpy as np
import pytest

from speechbrain_align.dataio.dictionaries import read_muse_dictionary
from speechbrain_align.dataio.vectors import Embeddings, write_vec
from speechbrain_align.evaluation import evaluate as cli
from speechbrain_align.evaluation.tables import (
    format_cell,
    format_console,
    load_results,
    merge_results,
    results_to_markdown,
    write_results,
)
from speechbrain_align.evaluation.tasks import (
    evaluate_synonyms,
    evaluate_translation,
    evaluate_word_classification,
    map_vectors,
    score_items,
)


def unit(*rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
def abcd():
    """Target words a..d on the unit axes; three queries with known rankings."""
    target = Embeddings(list("abcd"), np.eye(4))
    queries = Embeddings(
        ["q1", "q2", "q3", "q5"],
        [
            [0.9, 0.5, 0.1, 0.0],  # ranking a b c d
            [0.1, 0.2, 0.9, 0.3],  # ranking c d b a
            [0.0, 0.1, 0.2, 0.9],  # ranking d c b a
            [1.0, 0.0, 0.0, 0.0],
        ],
    )
    return queries, target


def test_translation_precision_by_hand_and_counted_skips(abcd, caplog):
    queries, target = abcd
    pairs = [
        ("q1", "b"),  # rank 2
        ("q2", "c"),  # rank 1
        ("q3", "a"),  # rank 4 ...
        ("q3", "zzz"),  # ... and an out-of-vocabulary gold word
        ("q4", "a"),  # no query vector -> skipped_no_query
        ("q5", "zzz"),  # no gold word in the target vocabulary -> skipped_no_gold
    ]
    r = evaluate_translation(queries, target, pairs, ks=(1, 2, 4), methods=("nn",),
                             return_predictions=True)
    # scored items: q1 (hit at 2), q2 (hit at 1), q3 (hit at 4)
    assert r["n_items"] == 5 and r["n_scored"] == 3 and r["n_skipped"] == 2
    assert r["skipped_no_query"] == 1 and r["skipped_no_gold"] == 1
    assert r["gold_words_oov"] == 1
    assert r["nn_P@1"] == pytest.approx(100 / 3)
    assert r["nn_P@2"] == pytest.approx(200 / 3)
    assert r["nn_P@4"] == pytest.approx(100.0)
    assert "skipped 1 of 5 items with no gold word" in caplog.text
    assert "skipped 1 of 5 items whose query has no vector" in caplog.text
    preds = {p["query"]: p for p in r["predictions"]}
    assert preds["q2"]["nn"] == list("cdba")
    assert preds["q3"]["gold"] == ["a"]
    assert [preds[q]["nn_rank"] for q in ("q1", "q2", "q3")] == [2, 1, 4]


def test_nothing_scored_gives_none_not_zero(abcd):
    queries, target = abcd
    r = evaluate_translation(queries, target, [("q5", "zzz")], ks=(1, 5))
    assert r["n_scored"] == 0 and r["nn_P@1"] is None and r["csls_P@5"] is None


def test_csls_beats_nn_on_a_hub_by_hand():
    # Targets y0, y1, y2 on the first three axes; the 4th coordinate only
    # pads queries to unit length. Cosines (queries x targets):
    #   x0: [0.60, 0.55, 0]   x1: [0.70, 0.10, 0]   x2: [0, 0, 1]
    # csls_k = 1: r_y0 = 0.70 (a hub), r_y1 = 0.55, r_y2 = 1.
    # x0 by 2cos - r_y: y0 1.20 - 0.70 = 0.50 < y1 1.10 - 0.55 = 0.55.
    target = Embeddings(["y0", "y1", "y2"], np.eye(3, 4))
    pad = lambda a, b: [a, b, 0.0, float(np.sqrt(1 - a * a - b * b))]  # noqa: E731
    queries = Embeddings(["x0", "x1", "x2"], [pad(0.6, 0.55), pad(0.7, 0.1), [0, 0, 1, 0]])
    items = [("x0", "y1"), ("x1", "y0"), ("x2", "y2")]
    r = evaluate_word_classification(queries, target, items, ks=(1,), csls_k=1,
                                     return_predictions=True)
    assert r["nn_P@1"] == pytest.approx(200 / 3)
    assert r["csls_P@1"] == pytest.approx(100.0)
    assert r["predictions"][0]["nn"][0] == "y0" and r["predictions"][0]["csls"][0] == "y1"


def test_segment_level_classification_shares_cluster_queries():
    target = Embeddings(["yes", "no", "up"], np.eye(3))
    clusters = Embeddings(["0", "1"], [[1.0, 0.3, 0.0], [0.0, 1.0, 0.5]])
    # cluster 0 -> yes; cluster 1 -> no. Segments: 3 "yes" and 1 "no" in
    # cluster 0 (3 right), 1 "up" in cluster 1 (wrong at 1, right at 2),
    # one segment of an unknown cluster, one whose word has no text vector.
    segments = [(0, "yes")] * 3 + [(0, "no"), (1, "up"), (7, "yes"), (1, "maybe")]
    r = evaluate_word_classification(clusters, target, segments, ks=(1, 2), methods=("nn",))
    assert r["n_items"] == 7 and r["n_scored"] == 5 and r["n_queries"] == 2
    assert r["skipped_no_query"] == 1 and r["skipped_no_gold"] == 1
    assert r["nn_P@1"] == pytest.approx(60.0)  # 3 of 5
    assert r["nn_P@2"] == pytest.approx(100.0)  # "no" is 2nd for cluster 0, "up" for 1


def test_synonyms_exclude_the_query_word():
    # "big" itself is in the target vocabulary with the very same vector
    target = Embeddings(["big", "small", "large", "tiny"],
                        unit([1, 0, 0], [0, 1, 0], [0.8, 0.1, 0.6], [0.1, 0.9, 0.4]))
    spoken = Embeddings(["big", "small", "huge"], unit([1, 0, 0], [0, 1, 0], [0, 0, 1]))
    synonyms = {"big": {"large", "big"}, "small": {"tiny"}, "huge": {"zzz"}}
    r = evaluate_synonyms(spoken, target, synonyms, ks=(1, 2), methods=("nn",),
                          return_predictions=True)
    # big -> candidates without "big": large (0.8), tiny (0.1), small (0)
    # small -> without "small": tiny (0.9) first
    assert r["n_scored"] == 2 and r["skipped_no_gold"] == 1
    assert r["nn_P@1"] == 100.0
    assert [p["nn"] for p in r["predictions"]] == [["large", "tiny"], ["tiny", "large"]]
    kept = evaluate_synonyms(spoken, target, {"big": {"large"}}, ks=(1,), methods=("nn",),
                             exclude_query_word=False)
    assert kept["nn_P@1"] == 0.0  # "big" retrieves itself first


def test_mapping_is_applied_as_x_wt():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    src = rng.normal(size=(30, 6)).astype(np.float32)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    tgt = Embeddings(words, src @ q.T)
    pairs = list(zip(words, words))
    r = evaluate_translation(Embeddings(words, src), tgt, pairs, mapping=q)
    assert r["nn_P@1"] == 100.0 and r["csls_P@1"] == 100.0
    r0 = evaluate_translation(Embeddings(words, src), tgt, pairs, mapping=q.T)
    assert r0["nn_P@1"] < 50.0
    with pytest.raises(ValueError, match="cannot map vectors of dim 6"):
        map_vectors(src, np.eye(6, 5))


def test_score_items_rejects_bad_arguments(abcd):
    queries, target = abcd
    with pytest.raises(ValueError, match="unknown method"):
        score_items(queries, target, [("q1", ["a"])], methods=("cosine",))
    with pytest.raises(ValueError, match="dim"):
        score_items(Embeddings(["q"], [[1.0, 0.0]]), target, [("q", ["a"])])


def test_real_muse_dictionary_counts(muse_dictionaries):
    pairs = read_muse_dictionary(muse_dictionaries / "en-es.txt")
    rng = np.random.default_rng(1)
    en = Embeddings(["the", "house", "notaword"], rng.normal(size=(3, 5)))
    es = Embeddings(["casa", "el", "la"], rng.normal(size=(3, 5)))
    mine = [(s, t) for s, t in pairs if s in ("the", "house", "notaword")]
    r = evaluate_translation(en, es, mine, methods=("nn",), ks=(1, 3))
    # "the" and "house" both have a translation among el/la/casa in MUSE en-es
    assert r["n_scored"] == 2 and r["n_items"] == 2
    assert r["nn_P@3"] == 100.0  # all three target words are retrieved at k=3


# ---------------------------------------------------------------- tables


RESULTS = {
    "A|text": {
        "dev": {"nn_P@1": 41.25, "nn_P@5": 60.0, "csls_P@1": 45.0, "csls_P@5": 62.5,
                "n_scored": 80, "n_skipped": 3},
    },
    "B": {
        "test": {"nn_P@1": None, "nn_P@5": None, "csls_P@1": None, "csls_P@5": None,
                 "n_scored": 0, "n_skipped": 5},
        "dev": {"nn_P@1": 10.0, "nn_P@5": 20.0, "csls_P@1": 12.0, "csls_P@5": 22.0,
                "n_scored": 10, "n_skipped": 0},
    },
    "_meta": {"note": "left out of the tables"},
}


def test_markdown_table_layout():
    md = results_to_markdown(RESULTS, title="Words")
    lines = md.splitlines()
    assert lines[0] == "## Words"
    assert "### NN (P@1 / P@5, n scored)" in lines
    assert "### CSLS (P@1 / P@5, n scored)" in lines
    assert "| configuration | dev | test |" in lines
    assert "| A\\|text | 41.2 / 60.0 (n=80, 3 skipped) | – |" in lines
    assert "| B | 10.0 / 20.0 (n=10) | – / – (n=0, 5 skipped) |" in lines
    assert "| B | 12.0 / 22.0 (n=10) | – / – (n=0, 5 skipped) |" in lines
    assert "_meta" not in md and "note" not in md


def test_console_and_cells():
    text = format_console(RESULTS, methods=("csls",))
    rows = text.splitlines()
    assert rows[0].split() == ["CSLS", "dev", "test"]
    assert rows[1].startswith("A|text") and "45.0 / 62.5 (n=80, 3 skipped)" in rows[1]
    assert format_cell({"n_scored": 3}, "nn") == "–"


def test_write_results_roundtrip_and_merge(tmp_path):
    json_path, md_path = tmp_path / "r.json", tmp_path / "sub" / "r.md"
    write_results(RESULTS, json_path, md_path)
    assert load_results(json_path) == RESULTS
    assert "| B | 10.0 / 20.0 (n=10)" in md_path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "sub"]  # no temp files
    merged = merge_results(load_results(json_path), {"B": {"dev": {"nn_P@1": 99.0}}})
    assert merged["B"]["dev"] == {"nn_P@1": 99.0} and "test" in merged["B"]
    assert load_results(tmp_path / "absent.json") == {}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json"):
        load_results(tmp_path / "bad.json")


# ---------------------------------------------------------------- CLI


@pytest.fixture
def vec_files(tmp_path):
    rng = np.random.default_rng(3)
    n, d = 60, 8
    src = rng.normal(size=(n, d)).astype(np.float32)
    rot, _ = np.linalg.qr(rng.normal(size=(d, d)))
    tgt = src @ rot.T + 0.001 * rng.normal(size=(n, d))
    src_words = [f"s{i}" for i in range(n)]
    tgt_words = [f"t{i}" for i in range(n)]
    write_vec(Embeddings(src_words, src), tmp_path / "src.vec")
    write_vec(Embeddings(tgt_words, tgt), tmp_path / "tgt.vec")
    np.save(tmp_path / "W.npy", rot.astype(np.float32))
    lines = [f"s{i}\tt{i}" for i in range(40)] + ["s1\tt41", "s99\tt1", "s2\tmissing"]
    (tmp_path / "dico.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_cli_end_to_end(vec_files, capsys):
    t = vec_files
    out = t / "res.json"
    argv = ["--src", str(t / "src.vec"), "--tgt", str(t / "tgt.vec"), "--dico",
            str(t / "dico.txt"), "--out", str(out)]
    assert cli.main(argv + ["--mapping", str(t / "W.npy")]) == 0
    assert cli.main(argv + ["--append", "--config", "identity"]) == 0
    printed = capsys.readouterr().out
    assert "40 of 41 items scored; skipped 1 without a source vector and 0 without" in printed
    res = json.loads(out.read_text())
    cond = "translation:dico.txt"
    mapped, ident = res["W"][cond], res["identity"][cond]
    assert mapped["n_scored"] == 40 and mapped["skipped_no_query"] == 1
    assert mapped["nn_P@1"] == 100.0 and mapped["csls_P@1"] == 100.0
    assert ident["nn_P@1"] < 30.0
    md = (t / "res.md").read_text()
    assert "| W | 100.0 / 100.0 (n=40, 1 skipped) |" in md
    assert "| identity |" in md


def test_cli_classification_and_synonym_files(vec_files):
    t = vec_files
    (t / "items.tsv").write_text("s0\tt0\ns0\tt0\ns3\tt4\n")
    out = t / "cls.json"
    argv = ["--src", str(t / "src.vec"), "--tgt", str(t / "tgt.vec"), "--mapping",
            str(t / "W.npy"), "--out", str(out), "--normalize", "unit"]
    assert cli.main(argv + ["--dico", str(t / "items.tsv"), "--task", "classification"]) == 0
    r = json.loads(out.read_text())["W"]["classification:items.tsv"]
    assert r["n_scored"] == 3 and r["nn_P@1"] == pytest.approx(200 / 3)
    # synonym sets (word<TAB>syn<TAB>syn) and MUSE-style pairs give the same result
    (t / "syn.tsv").write_text("s0\tt0\tt9\ns1\tt7\ns2\tnope\n")
    (t / "syn.txt").write_text("s0 t0\ns0 t9\ns1 t7\ns2 nope\n")
    for name in ("syn.tsv", "syn.txt"):
        assert cli.main(argv + ["--dico", str(t / name), "--task", "synonyms"]) == 0
        r = json.loads(out.read_text())["W"][f"synonyms:{name}"]
        assert r["n_scored"] == 2 and r["skipped_no_gold"] == 1
        assert r["nn_P@1"] == 50.0  # s0 finds t0; s1's nearest is t1, not t7


def test_cli_errors_name_the_file(vec_files, capsys):
    t = vec_files
    np.save(t / "bad.npy", np.eye(3))
    argv = ["--src", str(t / "src.vec"), "--tgt", str(t / "tgt.vec"), "--dico",
            str(t / "dico.txt"), "--out", str(t / "r.json")]
    assert cli.main(argv + ["--mapping", str(t / "bad.npy")]) == 1
    assert "bad.npy: mapping of shape (3, 3), expected (8, 8)" in capsys.readouterr().err
    (t / "broken.txt").write_text("a\tb\nonly_one_field\n")
    argv[5] = str(t / "broken.txt")
    assert cli.main(argv) == 1
    assert "broken.txt:2" in capsys.readouterr().err
    assert not (t / "r.json").exists()


def test_synonyms_with_target_vocabulary_not_larger_than_k():
    """Excluding the query word must work when the target has <= max(ks) words."""
    from speechbrain_align.dataio.vectors import Embeddings
    from speechbrain_align.evaluation.tasks import evaluate_synonyms

    tgt = Embeddings(["big", "large", "small"], [[1.0, 0.0], [0.9, 0.3], [0.0, 1.0]])
    res = evaluate_synonyms(Embeddings(["big"], [[1.0, 0.05]]), tgt, {"big": {"large"}}, ks=(1, 5))
    assert res["nn_P@1"] == 100.0 and res["csls_P@5"] == 100.0
