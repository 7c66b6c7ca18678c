"""Diagnostics on a synthetic corpus where semantics and spelling are independent.

48 words = 6 stems x 8 suffixes (spelling families); 6 topics cut across the
stems, and every sentence draws its words from one topic. So text skip-gram
vectors know topics (semantics) but nothing of spelling, and vectors built
from character bigrams know spelling but nothing of topics.
"""

import collections
import json
import os

import numpy as np
import pytest

from speechbrain_align.dataio.manifest import Segment, read_segment_manifest, write_segment_manifest
from speechbrain_align.dataio.vectors import Embeddings, write_vec
from speechbrain_align.speech import diagnostics as D
from speechbrain_align.speech.units import clustering_purity, skipgram, write_assignment

STEMS = ["bal", "kor", "tim", "sup", "ren", "gow"]
SUFFIXES = ["", "a", "er", "ing", "ot", "ul", "is", "em"]
WORDS = [s + x for s in STEMS for x in SUFFIXES]
TOPIC = {s + x: (i + j) % 6 for i, s in enumerate(STEMS) for j, x in enumerate(SUFFIXES)}


def make_corpus(n_sent=900, length=8, seed=0):
    rng = np.random.default_rng(seed)
    by_topic = collections.defaultdict(list)
    for w, t in TOPIC.items():
        by_topic[t].append(w)
    return [list(rng.choice(by_topic[rng.integers(6)], size=length)) for _ in range(n_sent)]


def corpus_rows(sentences, phones=True):
    segs = []
    for u, sent in enumerate(sentences):
        for p, w in enumerate(sent):
            extra = {"phones": " ".join(c.upper() for c in w)} if phones else {}
            segs.append(Segment("/x.wav", p * 0.5, p * 0.5 + 0.4, w, "s", f"utt{u:04d}", p, extra=extra))
    return segs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("diag")
    sentences = make_corpus()
    manifest = folder / "train.csv"
    write_segment_manifest(corpus_rows(sentences), manifest)
    return {"folder": folder, "manifest": manifest, "rows": read_segment_manifest(manifest),
            "sentences": sentences}


def spelling_vectors(words, seed=0):
    """Bag of character bigrams (with boundaries) plus a little noise."""
    grams = sorted({g for w in words for g in _bigrams(w)})
    col = {g: i for i, g in enumerate(grams)}
    x = np.zeros((len(words), len(grams)), dtype=np.float32)
    for i, w in enumerate(words):
        for g in _bigrams(w):
            x[i, col[g]] += 1
    x += 0.01 * np.random.default_rng(seed).normal(size=x.shape)
    return Embeddings(words, x)


def _bigrams(w):
    w = f"<{w}>"
    return [w[i : i + 2] for i in range(len(w) - 1)]


def test_edit_distance_matches_reference():
    def lev(a, b):
        prev = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            cur = [i]
            for j, cb in enumerate(b, 1):
                cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
            prev = cur
        return prev[-1]

    words = WORDS + ["", "x", "ballooning"]
    d = D.edit_distance_matrix(words, block_elems=500)  # many small blocks
    expected = np.array([[lev(a, b) for b in words] for a in words])
    assert (d == expected).all()
    phones = [("AH", "B"), ("AH",), ("B", "AH", "B")]
    assert D.edit_distance_matrix(phones).tolist() == [[0, 1, 1], [1, 0, 2], [1, 2, 0]]


def test_spelling_vectors_know_spelling_not_semantics(corpus):
    report = D.diagnose(spelling_vectors(WORDS), corpus["rows"], random_baseline=True,
                        similarity_files={})
    mine, rand = report["rows"]
    assert mine["n_compared_spelling"] == len(WORDS) == mine["n_compared_phones"]
    assert mine["overlap_spelling"] > 0.6 and mine["overlap_phones"] > 0.6
    assert mine["overlap_text"] < 0.25
    assert mine["overlap_spelling"] > 2 * mine["overlap_text"]
    # random vectors sit near chance on every reference
    for kind in ("text", "spelling", "phones"):
        assert rand[f"overlap_{kind}"] < 0.4
        assert mine[f"chance_{kind}"] == pytest.approx(10 / 47)


def test_text_vectors_know_semantics_not_spelling(corpus):
    text = skipgram(corpus["sentences"], dim=20, window=5, epochs=20, seed=7)
    report = D.diagnose(text, corpus["rows"], similarity_files={}, text_row=True,
                        text_options={"dim": 20, "epochs": 20})
    mine, other_seed = report["rows"]
    assert mine["overlap_text"] > 0.55
    assert mine["overlap_spelling"] < 0.25
    assert mine["overlap_text"] > 2 * mine["overlap_spelling"]
    assert other_seed["name"].startswith("text skip-gram")
    assert other_seed["overlap_text"] > 0.55


def test_units_perfect_clustering(corpus):
    rows = corpus["rows"]
    # one unit per word, except that "bal" is split over two units
    assignment = {}
    for r in rows:
        unit = f"u{WORDS.index(r['word']):04d}"
        if r["word"] == "bal" and r["position"] % 2:
            unit = "u0999"
        assignment[r["ID"]] = unit
    assert clustering_purity(rows, assignment)["purity"] == 1.0
    sentences = [[assignment[r["ID"]] for r in utt] for utt in D.group_by_utterance(rows).values()]
    units = skipgram(sentences, dim=20, epochs=20, seed=3)
    report = D.diagnose(units, rows, assignment=assignment, similarity_files={})
    row = report["rows"][0]
    assert row["purity"] == 1.0
    assert row["n_clusters"] == len(WORDS) + 1
    assert row["n_word_types_covered"] == len(WORDS)
    assert row["n_labels"] == len(WORDS)
    assert row["overlap_text"] > 0.5
    # an impure clustering: two words merged in one unit
    merged = {k: ("u0000" if v == "u0001" else v) for k, v in assignment.items()}
    stats = clustering_purity(rows, merged)
    n_a = sum(r["word"] == "bal" for r in rows)
    n_b = sum(r["word"] == "bala" for r in rows)
    n_bal_unit0 = sum(r["word"] == "bal" and not r["position"] % 2 for r in rows)
    expected = 1 - min(n_bal_unit0, n_b) / len(rows)
    assert stats["purity"] == pytest.approx(expected)
    assert n_bal_unit0 < n_b and n_bal_unit0 < n_a - n_bal_unit0  # "bala" leads the merged unit, "bal" still leads u0999
    assert stats["n_word_types_covered"] == len(WORDS)
    assert stats["n_clusters"] == len(WORDS)


def test_unit_neighbours_merge_units_with_same_label():
    lv = D.LabelledVectors(
        [[1, 0, 0], [0.99, 0.1, 0], [0.98, 0, 0.1], [0.5, 0.5, 0], [0, 1, 0], [0, 0, 1]],
        ["a", "a", "a", "b", "c", None],
        {"a": 0, "b": 3, "c": 4},
    )
    nb = D.vector_neighbours(lv, ["a", "b", "c"], k=2)
    assert nb["a"] == ["b", "c"]  # the two other "a" units are skipped, search widened
    assert nb["c"] == ["b", "a"]


def test_spearman_on_tiny_file(tmp_path):
    path = tmp_path / "sim.txt"
    # cosines: (a,b)=0.894 > (b,c)=0.447 > (a,d)=0.2 > (a,c)=0
    path.write_text("# comment\nA\tb\t9\nb\tc\t5\na\td\t6\na\tc\t1\na\tzzz\t3\n")
    emb = Embeddings(["a", "b", "c", "d"], [[1, 0, 0], [1, .5, 0], [0, 1, 0], [.2, 0, .9798]])
    lv = D.LabelledVectors.from_words(emb)
    rho, covered, total = D.similarity_spearman(lv, D.read_similarity_pairs(path))
    # human ranks 4,2,3,1 vs model ranks 4,3,2,1: sum d^2 = 2
    assert (covered, total) == (4, 5)
    assert rho == pytest.approx(1 - 6 * 2 / (4 * 15))
    assert D.similarity_spearman(lv, D.read_similarity_pairs(path), min_pairs=5) == (None, 4, 5)
    bad = tmp_path / "bad.txt"
    bad.write_text("a\tb\tnot-a-number\n")
    with pytest.raises(ValueError, match="bad.txt:1"):
        D.read_similarity_pairs(bad)


def test_similarity_file_in_diagnose(corpus, tmp_path):
    """A fake similarity set: same-topic pairs are similar. Text vectors know it."""
    rng = np.random.default_rng(1)
    lines = []
    while len(lines) < 60:
        a, b = rng.choice(WORDS, 2, replace=False)
        same = TOPIC[a] == TOPIC[b]
        if same or len(lines) % 2:  # about half the pairs share a topic
            lines.append(f"{a}\t{b}\t{10 if same else 0}")
    lines.append("unknownword\tbal\t5")
    path = tmp_path / "topics.tsv"
    path.write_text("\n".join(lines) + "\n")
    text = skipgram(corpus["sentences"], dim=20, epochs=20, seed=11)
    for vectors, low, high in ((text, 0.4, 1.0), (spelling_vectors(WORDS), -1.0, 0.3)):
        row = D.diagnose(vectors, corpus["rows"], similarity_files={"topics": path})["rows"][0]
        assert (row["topics_pairs"], row["topics_total_pairs"]) == (60, 61)
        assert low < row["topics_rho"] < high, row["topics_rho"]


def test_default_similarity_files_are_used(corpus):
    files = D.default_similarity_files()
    if len(files) < 2:
        pytest.skip("gensim test data not installed")
    assert len(D.read_similarity_pairs(files["wordsim353"])) == 353
    assert len(D.read_similarity_pairs(files["simlex999"])) == 999
    report = D.diagnose(spelling_vectors(WORDS), corpus["rows"])
    row = report["rows"][0]
    assert row["wordsim353_pairs"] == 0 and row["wordsim353_total_pairs"] == 353


def test_no_phones_column_is_noted(tmp_path):
    manifest = tmp_path / "m.csv"
    write_segment_manifest(corpus_rows(make_corpus(200), phones=False), manifest)
    report = D.diagnose(spelling_vectors(WORDS), read_segment_manifest(manifest),
                        similarity_files={}, min_count=5)
    assert "overlap_phones" not in report["rows"][0]
    assert any("phones" in n for n in report["notes"])
    counts = D.word_counts(read_segment_manifest(manifest))
    assert report["rows"][0]["n_compared_spelling"] == sum(c >= 5 for c in counts.values())


def test_cli_end_to_end(corpus, tmp_path):
    vec = tmp_path / "units.vec"
    rows = corpus["rows"]
    assignment = {r["ID"]: f"u{WORDS.index(r['word']) // 2:04d}" for r in rows}  # 2 words per unit
    write_assignment(tmp_path / "a.csv", assignment)
    rng = np.random.default_rng(0)
    write_vec(Embeddings([f"u{i:04d}" for i in range(24)], rng.normal(size=(24, 5))), vec)
    out = tmp_path / "diag" / "diag.json"
    D.main(["--vectors", str(vec), "--manifest", str(corpus["manifest"]),
            "--assignment", str(tmp_path / "a.csv"), "--out", str(out),
            "--random-baseline", "--text-epochs", "5", "--min-count", "2",
            "--save-text-vectors", str(tmp_path / "text.vec")])
    report = json.loads(out.read_text())
    row = report["rows"][0]
    assert row["n_clusters"] == 24 and row["n_word_types_covered"] == 24
    assert 0.4 < row["purity"] < 0.6
    assert row["n_compared_text"] == 24
    assert [r["name"] for r in report["rows"]] == ["units.vec", "random vectors"]
    md = (tmp_path / "diag" / "diag.md").read_text()
    assert "| units.vec |" in md and "overlap@10 phones" in md
    assert os.path.exists(tmp_path / "text.vec")
    assert not [p for p in os.listdir(tmp_path / "diag") if p.endswith(".tmp")]
