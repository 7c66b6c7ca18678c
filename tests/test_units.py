"""Unit skip-gram on synthetic segment features where the answer is known.

12 word types, each with its own well-separated centroid in feature space;
sentences draw their words from one of 3 topics of 4 words. k-means must
recover one unit per word (purity ~1) and the skip-gram over unit ids must
make units of the same topic neighbours.
"""

import collections
import csv
import json
import os

import numpy as np
import pytest
import soundfile

from speechbrain_align.dataio.manifest import Segment, read_segment_manifest, write_segment_manifest
from speechbrain_align.dataio.vectors import Embeddings, load_embeddings, save_embeddings
from speechbrain_align.retrieval.search import knn, normalize_rows
from speechbrain_align.speech import unit_features
from speechbrain_align.speech import units as U
from speechbrain_align.utils.errors import HparamsError

N_WORDS, N_TOPICS = 12, 3


def synthetic(n_sent=400, length=6, dim=16, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(N_WORDS, dim)) * 4
    rows, feats = [], []
    for u in range(n_sent):
        topic = rng.integers(N_TOPICS)
        for p, w in enumerate(rng.integers(4, size=length) * N_TOPICS + topic):
            rows.append({"ID": f"utt{u:04d}_{p:04d}", "utt_id": f"utt{u:04d}", "position": p,
                         "word": f"w{w:02d}", "wav": "/x.wav", "start": p * 0.5,
                         "stop": p * 0.5 + 0.4, "duration": 0.4, "spk_id": "s"})
            feats.append(centroids[w] + noise * rng.normal(size=dim))
    # shuffle rows: unit sentences must follow utt_id/position, not file order
    order = rng.permutation(len(rows))
    return [rows[i] for i in order], np.asarray(feats, dtype=np.float32)[order]


def topic(word):
    return int(word[1:]) % N_TOPICS


def test_unit_skipgram_recovers_units_and_cooccurrence():
    rows, feats = synthetic()
    emb, assignment = U.train_unit_skipgram(
        rows, feats, N_WORDS, dim=16, window=3, epochs=15, sample=0, nredo=3, pca_dim=8, seed=1
    )
    assert set(assignment) == {r["ID"] for r in rows}
    stats = U.clustering_purity(rows, assignment)
    assert stats["purity"] > 0.97
    assert stats["n_word_types_covered"] == N_WORDS
    assert len(emb) == N_WORDS and emb.counts.sum() == len(rows)
    assert all(w.startswith("u") and len(w) == 5 for w in emb.words)
    # units whose words share a topic (co-occur) are each other's neighbours
    table = U.unit_majority(rows, assignment)
    _, idx = knn(normalize_rows(emb.vectors), normalize_rows(emb.vectors), 4)
    same = [topic(table[emb.words[i]]["word"]) == topic(table[emb.words[j]]["word"])
            for i, row in enumerate(idx) for j in row[1:]]
    assert np.mean(same) > 0.9


def test_unit_skipgram_runs_average_the_vectors_only():
    """runs > 1 changes the unit vectors (an average of models), not the units."""
    rows, feats = synthetic(n_sent=40)
    opts = dict(dim=8, window=3, epochs=2, sample=0, pca_dim=8, seed=1)
    one, assign_one = U.train_unit_skipgram(rows, feats, N_WORDS, **opts)
    avg, assign_avg = U.train_unit_skipgram(rows, feats, N_WORDS, runs=3, **opts)
    assert assign_avg == assign_one and avg.words == one.words
    assert avg.counts.tolist() == one.counts.tolist()
    assert not np.allclose(avg.vectors, one.vectors)


def test_unit_sentences_follow_utterance_order():
    rows, feats = synthetic(n_sent=5)
    assignment = {r["ID"]: "u" + r["word"][1:].zfill(4) for r in rows}
    sentences = U.unit_sentences(rows, assignment)
    by_utt = collections.defaultdict(dict)
    for r in rows:
        by_utt[r["utt_id"]][r["position"]] = assignment[r["ID"]]
    expected = [[d[p] for p in sorted(d)] for _, d in sorted(by_utt.items())]
    assert sorted(sentences) == sorted(expected)


def test_reduce_features_whitening_decorrelates():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 3)) @ np.array([[3, 1, 0], [0, 1, 0], [0, 0, 0.1]])
    y = U.reduce_features(x, whiten=True)
    assert np.allclose(np.cov(y.T), np.eye(3), atol=0.05)
    assert U.reduce_features(x, pca_dim=1).shape == (2000, 1)


def test_kmeans_rejects_bad_k():
    with pytest.raises(ValueError, match="n_units"):
        U.kmeans_units(np.zeros((3, 2)), 5)


def test_assignment_file_errors(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("ID,unit\ns1,u0001\ns1,u0002\n")
    with pytest.raises(Exception, match="a.csv:3"):
        U.read_assignment(path)
    path.write_text("ID,cluster,word\ns1,c00003,the\n")  # Speech2Vec k-means types
    assert U.read_assignment(path) == {"s1": "c00003"}
    path.write_text("segment,unit\n")
    with pytest.raises(Exception, match="a.csv:1"):
        U.read_assignment(path)


def test_run_from_segment_vector_file_and_skip(tmp_path):
    rows, feats = synthetic(n_sent=120)
    manifest = tmp_path / "train.csv"
    write_segment_manifest(
        [Segment(r["wav"], r["start"], r["stop"], r["word"], "s", r["utt_id"], r["position"])
         for r in rows], manifest)
    vec = tmp_path / "segments.npz"  # e.g. Speech2Vec encoder outputs, segment IDs as words
    save_embeddings(Embeddings([r["ID"] for r in rows], feats), vec)
    out = tmp_path / "units"
    kwargs = dict(feature_source=str(vec), n_units=N_WORDS, dim=8, epochs=5, nredo=3, seed=0)
    paths = U.run_unit_skipgram(manifest, out, **kwargs)
    emb = load_embeddings(paths["vectors"])
    assert emb.counts is not None and len(emb) == N_WORDS
    assignment = U.read_assignment(paths["assignment"])
    assert len(assignment) == len(rows)
    summary = json.loads(open(paths["summary"]).read())
    assert summary["purity"] > 0.95 and summary["n_clusters"] == N_WORDS
    with open(paths["unit_table"]) as handle:
        table = list(csv.DictReader(handle))
    assert sum(int(t["size"]) for t in table) == len(rows)
    # rerun with the same options: nothing is rewritten
    mtime = os.path.getmtime(paths["vectors"])
    U.run_unit_skipgram(manifest, out, **kwargs)
    assert os.path.getmtime(paths["vectors"]) == mtime
    # a segment without vector is an error naming the file, or skipped on request
    save_embeddings(Embeddings([r["ID"] for r in rows[1:]], feats[1:]), vec)
    with pytest.raises(Exception, match="segments.npz"):
        U.run_unit_skipgram(manifest, out, **kwargs)
    paths = U.run_unit_skipgram(manifest, out, on_missing="skip", **{**kwargs, "seed": 1})
    assert len(U.read_assignment(paths["assignment"])) == len(rows) - 1


def _tone_corpus(tmp_path, n_utts=6):
    """Utterances of 3 'words' = tones at 3 pitches."""
    rate, segs = 16000, []
    freqs = {"low": 300.0, "mid": 1200.0, "high": 4000.0}
    rng = np.random.default_rng(0)
    for u in range(n_utts):
        words = list(rng.permutation(list(freqs)))
        t = np.arange(int(0.3 * rate)) / rate
        audio = np.concatenate([0.3 * np.sin(2 * np.pi * freqs[w] * t) for w in words])
        wav = tmp_path / f"utt{u}.wav"
        soundfile.write(wav, audio.astype(np.float32), rate)
        segs += [Segment(str(wav), 0.3 * p, 0.3 * (p + 1), w, "s", f"utt{u}", p)
                 for p, w in enumerate(words)]
    manifest = tmp_path / "tones.csv"
    write_segment_manifest(segs, manifest)
    return manifest


def test_logmel_features_cached_and_clustered(tmp_path, monkeypatch):
    manifest = _tone_corpus(tmp_path)
    rows = read_segment_manifest(manifest)
    cache = tmp_path / "feats.npy"
    feats = U.segment_logmel_features(rows, cache_path=cache, workers=1, progress=False)
    assert feats.shape == (len(rows), 1024) and os.path.exists(cache)
    # second call reads the cache (the worker is never called)
    monkeypatch.setattr(unit_features, "_logmel_chunk", lambda *a: pytest.fail("recomputed"))
    again = U.segment_logmel_features(rows, cache_path=cache, workers=1, progress=False)
    assert np.array_equal(feats, again)
    monkeypatch.undo()
    # other rows: the cache is not reused
    other = U.segment_logmel_features(rows[:4], cache_path=cache, workers=1, progress=False)
    assert other.shape == (4, 1024)
    labels, _ = U.kmeans_units(feats, 3, nredo=3)
    stats = U.clustering_purity(rows, {r["ID"]: U.unit_name(l) for r, l in zip(rows, labels)})
    assert stats["purity"] == 1.0


def test_logmel_features_two_workers_match(tmp_path):
    manifest = _tone_corpus(tmp_path, n_utts=2)
    rows = read_segment_manifest(manifest)
    one = U.segment_logmel_features(rows, workers=1, progress=False)
    two = U.segment_logmel_features(rows, workers=2, chunk_size=3, progress=False)
    assert np.allclose(one, two, atol=1e-5)


def test_recipe_end_to_end(tmp_path):
    import subprocess
    import sys

    rows, feats = synthetic(n_sent=60)
    manifest = tmp_path / "train.csv"
    write_segment_manifest(
        [Segment(r["wav"], r["start"], r["stop"], r["word"], "s", r["utt_id"], r["position"])
         for r in rows], manifest)
    vec = tmp_path / "segments.npz"
    save_embeddings(Embeddings([r["ID"] for r in rows], feats), vec)
    recipe = os.path.join(os.path.dirname(__file__), "..", "recipes", "Bible", "units")
    out = tmp_path / "results"
    cmd = [sys.executable, "train.py", "hparams/units.yaml", f"--train_csv={manifest}",
           f"--feature_source={vec}", f"--output_folder={out}", "--n_units=12",
           "--pca_dim=8", "--epochs=3", "--device=cpu"]
    done = subprocess.run(cmd, cwd=recipe, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "units" / "summary.json").read_text())
    assert summary["purity"] > 0.95 and summary["n_clusters"] == N_WORDS
    report = json.loads((out / "diagnostics.json").read_text())
    assert [r["name"] for r in report["rows"]] == [
        "unit skip-gram", "random vectors", "text skip-gram (other seed)"]
    assert report["rows"][0]["purity"] == summary["purity"]
    assert (out / "diagnostics.md").exists() and (out / "text_skipgram.vec").exists()


def _voice_split(n_sent=300, n_speakers=4, seed=0):
    """The synthetic corpus spoken by ``n_speakers`` voices: each voice shifts every
    word's features alike, so k-means at 12 x 4 units splits each word by voice."""
    rows, feats = synthetic(n_sent=n_sent, noise=0.2, seed=seed)
    rng = np.random.default_rng(seed + 1)
    voices = rng.normal(size=(n_speakers, feats.shape[1])) * 2
    for r, f in zip(rows, feats):
        s = int(r["utt_id"][3:]) % n_speakers
        r["spk_id"] = f"spk{s}"
        f += voices[s]
    return rows, feats


def test_label_free_merge_joins_one_words_voices():
    rows, feats = _voice_split()
    options = dict(dim=8, window=3, epochs=5, sample=0, nredo=2, seed=0)
    plain, plain_assign = U.train_unit_skipgram(rows, feats, 4 * N_WORDS, **options)
    merged, assign = U.train_unit_skipgram(rows, feats, 4 * N_WORDS, merge={}, **options)
    assert len(plain) > 3 * N_WORDS  # the voices split the words
    assert U.clustering_purity(rows, plain_assign)["purity"] > 0.95
    assert N_WORDS <= len(merged) <= N_WORDS + 4  # one type per word, or nearly
    assert U.clustering_purity(rows, assign)["purity"] > 0.95
    assert merged.counts.sum() == len(rows)


def test_final_merge_joins_a_words_variants_in_the_same_voices():
    from speechbrain_align.speech.unit_merge import merge_units

    # units 0/1: one word's two variants, both in voices a and b (the speaker merge
    # refuses them); unit 2: another word, close but under the floor (cosine 0.8)
    centres = np.array([[1, 0, 0], [0.97, 0.2, 0], [0.8, 0, 0.6]])
    labels = np.repeat(np.arange(3), 10)
    feats = centres[labels] + 0.01 * np.random.default_rng(0).normal(size=(30, 3))
    speakers = np.tile(np.repeat(["a", "b"], 5), 3)
    context = lambda group: np.eye(group.max() + 1, 8)  # noqa: E731  (no two alike)
    off = merge_units(labels, feats, speakers, context, k=2, rounds=1, final_min_cos=1.5)
    assert len(set(off.tolist())) == 3
    on = merge_units(labels, feats, speakers, context, k=2, rounds=1, final_min_cos=0.9)
    assert on[0] == on[1] != on[2]
    everything = merge_units(labels, feats, speakers, context, k=2, rounds=1, final_min_cos=0.7)
    assert len(set(everything.tolist())) == 1


def test_merge_option_errors_name_the_key(tmp_path):
    rows, feats = _voice_split(n_sent=40)
    manifest = tmp_path / "train.csv"
    write_segment_manifest(
        [Segment(r["wav"], r["start"], r["stop"], r["word"], r["spk_id"], r["utt_id"],
                 r["position"]) for r in rows], manifest)
    vec = tmp_path / "segments.npz"
    save_embeddings(Embeddings([r["ID"] for r in rows], feats), vec)
    kwargs = dict(feature_source=str(vec), n_units=8, dim=4, epochs=1, seed=0)
    with pytest.raises(HparamsError, match="merge: unknown key.*min_cosine"):
        U.run_unit_skipgram(manifest, tmp_path / "a", merge={"min_cosine": 0.5}, **kwargs)
    with pytest.raises(HparamsError, match="merge and soft_copies"):
        U.run_unit_skipgram(manifest, tmp_path / "b", merge={}, soft_copies=2, **kwargs)
    with pytest.raises(HparamsError, match="merge: rounds: expected a number"):
        U.run_unit_skipgram(manifest, tmp_path / "a", merge={"rounds": "three"}, **kwargs)
    with pytest.raises(HparamsError, match="not a mapping"):
        U.run_unit_skipgram(manifest, tmp_path / "c", merge=3, **kwargs)
    assert not os.path.exists(tmp_path / "a" / "units.vec")
    # the recipe's switch: merge_units False ignores the settings
    off = U.run_unit_skipgram(manifest, tmp_path / "d", merge_units=False, merge={"bad": 1},
                              **kwargs)
    assert len(U.read_assignment(off["assignment"])) == len(rows)
    paths = U.run_unit_skipgram(manifest, tmp_path / "e", merge_units=True, merge={"rounds": 1},
                                **kwargs)
    assert len(load_embeddings(paths["vectors"])) <= 8
    with pytest.raises(ValueError, match="no spk_id"):
        U.train_unit_skipgram([dict(r, spk_id="") for r in rows], feats, 8, merge={})
