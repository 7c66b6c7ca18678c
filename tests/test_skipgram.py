"""Tests for speechbrain_align.text.skipgram."""

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

from speechbrain_align.dataio.vectors import read_vec
from speechbrain_align.text import skipgram as S

GROUPS = [["cat", "dog", "mouse", "horse"], ["car", "bus", "train", "truck"],
          ["red", "green", "blue", "yellow"]]


def synthetic_sentences(n=600, length=6, seed=0):
    """Sentences drawn from one group each: words co-occur only within a group."""
    rng = random.Random(seed)
    sents = []
    for i in range(n):
        group = GROUPS[i % len(GROUPS)]
        sents.append([rng.choice(group) for _ in range(length)])
    return sents


def group_of(word):
    return next(i for i, g in enumerate(GROUPS) if word in g)


def test_cooccurring_words_become_neighbours():
    emb = S.train_skipgram_on_sentences(
        synthetic_sentences(), dim=16, window=3, min_count=1, epochs=10, workers=1,
        sample=0, seed=5,
    )
    assert sorted(emb.words) == sorted(w for g in GROUPS for w in g)
    for word in emb.words:
        near = [w for w, _ in S.nearest_neighbours(emb, word, k=3)]
        assert all(group_of(w) == group_of(word) for w in near), (word, near)
    # Rows are ordered by count, counts are the corpus counts.
    assert (np.diff(emb.counts) <= 0).all()
    assert int(emb.counts.sum()) == 600 * 6


def test_unit_id_sequences_and_errors():
    units = [[i % 5, (i + 1) % 5, 7] for i in range(100)]
    emb = S.train_skipgram_on_sentences(units, dim=4, min_count=1, epochs=1, workers=1)
    assert emb.words[0] == "7" and emb.counts[0] == 100
    with pytest.raises(S.SkipgramError, match="min_count=500"):
        S.train_skipgram_on_sentences(units, dim=4, min_count=500, workers=1)
    with pytest.raises(S.SkipgramError, match="no tokens"):
        S.train_skipgram_on_sentences([[], []], workers=1)
    with pytest.raises(S.SkipgramError, match="dim must be"):
        S.train_skipgram_on_sentences(units, dim=0, workers=1)


def _rotated_distance(a, b):
    """Mean distance between the unit rows of ``a`` and ``b`` after the best rotation."""
    from speechbrain_align.alignment.procrustes import procrustes
    from speechbrain_align.retrieval.search import normalize_rows

    x = normalize_rows(a.vectors)
    y = normalize_rows(b.vectors[[b.index[w] for w in a.words]])
    return float(np.linalg.norm(y @ procrustes(y, x).T - x, axis=1).mean())


def test_runs_average_rotated_models():
    """runs=R averages R seeds: same words and counts, and two averages of
    disjoint seeds agree better than two single models do."""
    sents = synthetic_sentences(n=300, length=5, seed=1)
    opts = dict(dim=8, window=2, min_count=1, epochs=2, workers=1, sample=0)
    one = [S.train_skipgram_on_sentences(sents, seed=s, **opts) for s in (10, 20)]
    avg = [S.train_skipgram_on_sentences(sents, seed=s, runs=4, **opts) for s in (10, 20)]
    assert avg[0].words == one[0].words
    assert avg[0].counts.tolist() == one[0].counts.tolist()
    assert not np.allclose(avg[0].vectors, one[0].vectors)
    assert _rotated_distance(*avg) < 0.8 * _rotated_distance(*one)
    # The first model is the reference frame: run 1 of the average is seed 10 itself.
    assert _rotated_distance(avg[0], one[0]) < _rotated_distance(avg[0], one[1])
    with pytest.raises(S.SkipgramError, match="runs must be"):
        S.train_skipgram_on_sentences(sents, runs=0, **opts)
    with pytest.raises(ValueError, match="one vocabulary"):
        S.average_runs([one[0], one[0].subset(range(3))])


def test_corpus_file_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(S.SkipgramError, match="empty.txt"):
        S.train_skipgram(empty)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good line\n\xff\xfe\n")
    with pytest.raises(S.SkipgramError, match="bad.txt:2"):
        S.train_skipgram(bad)


def test_deterministic_with_one_worker_across_processes(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(" ".join(s) for s in synthetic_sentences(300)) + "\n")
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"v{hash_seed}.vec"
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        subprocess.run(
            [sys.executable, "-m", "speechbrain_align.text.skipgram", str(corpus), str(out),
             "--dim", "8", "--min_count", "1", "--epochs", "2", "--workers", "1",
             "--seed", "3"],
            check=True, env=env, capture_output=True,
        )
        outputs.append(out)
    assert outputs[0].read_text() == outputs[1].read_text()
    emb = read_vec(outputs[0])
    assert emb.dim == 8 and len(emb) == 12 and emb.counts is not None
    assert (tmp_path / "v1.vec.counts.tsv").exists()


def test_cli_reports_missing_corpus(tmp_path, capsys):
    assert S.main([str(tmp_path / "none.txt"), str(tmp_path / "o.vec")]) == 1
    assert "none.txt" in capsys.readouterr().err
    assert not (tmp_path / "o.vec").exists()
    assert S.main([str(tmp_path / "none.txt"), str(tmp_path)]) == 1
    assert "not a regular file" in capsys.readouterr().err


def _recipe(overrides):
    """Run recipes/Bible/text_vectors/train.py; return the finished process."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [sys.executable, os.path.join(repo, "recipes", "Bible", "text_vectors", "train.py"),
           os.path.join(repo, "recipes", "Bible", "text_vectors", "hparams", "skipgram.yaml")]
    cmd += [f"--{k}={v}" for k, v in overrides.items()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_recipe_on_user_text(tmp_path):
    text = tmp_path / "my.txt"
    text.write_text("\n".join(" ".join(s).title() + "." for s in synthetic_sentences(300)),
                    encoding="utf-8")
    overrides = {
        "data_folder": tmp_path / "data", "output_folder": tmp_path / "out",
        "text_file": text, "corpus": tmp_path / "data" / "my.tok.txt",
        "dim": 8, "min_count": 1, "epochs": 2, "threads": 1, "probe_words": "[cat]",
    }
    proc = _recipe(overrides)
    assert proc.returncode == 0, proc.stderr[-2000:]
    emb = read_vec(tmp_path / "out" / "vectors.vec")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["words"] == len(emb) == 12 and emb.dim == 8 and not summary["reused"]
    assert (tmp_path / "data" / "my.tok.txt").read_text().startswith(
        " ".join(synthetic_sentences(1)[0])
    )
    assert len(summary["neighbours"]["cat"]) == 5
    # the same vectors as the library's train_skipgram with these settings
    direct = S.train_skipgram(tmp_path / "data" / "my.tok.txt", dim=8, min_count=1, epochs=2,
                              workers=1, seed=1234)
    assert direct.words == emb.words and np.allclose(direct.vectors, emb.vectors, atol=1e-6)
    # a rerun with the same settings reuses them; another setting retrains
    assert _recipe(overrides).returncode == 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["reused"]
    assert _recipe(dict(overrides, epochs=3)).returncode == 0
    assert not json.loads((tmp_path / "out" / "summary.json").read_text())["reused"]
    # a bad corpus: one clear error naming the file and line, no traceback
    text.write_bytes(b"\xff\n")
    proc = _recipe(dict(overrides, corpus=tmp_path / "data" / "other.txt"))
    assert proc.returncode != 0 and "my.txt:1" in proc.stderr
    assert "Traceback" not in proc.stderr
