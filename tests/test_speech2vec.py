"""Speech2Vec: pairs, features cache, bad input, Brain training, resume and
export, on a tiny synthetic corpus of tone "words" (the modules: test_speech2vec_model.py)."""

import logging
import os

import numpy as np
import pytest
import soundfile
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_align.dataio.manifest import (
    ManifestError,
    Segment,
    read_segment_manifest,
    write_segment_manifest,
)
from speechbrain_align.dataio.vectors import load_embeddings
from speechbrain_align.nnet.speech2vec import Speech2Vec, masked_mse
from speechbrain_align.speech.feature_cache import extract_features, load_features
from speechbrain_align.speech.features import FeatureError, FeatureExtractor
from speechbrain_align.speech.pairs import Speech2VecCollate, build_examples, make_dataset
from speechbrain_align.speech.units import read_assignment

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST_YAML = os.path.join(REPO, "recipes", "Bible", "speech2vec", "hparams", "speech2vec_fast.yaml")
RATE = 16000


def tone_word(word, rng):
    """A synthetic 'word': two tones and an envelope specific to ``word``."""
    f1, f2 = 200 + 150 * (word % 5), 900 + 400 * (word // 5)
    dur = (0.12 + 0.04 * (word % 4)) * rng.uniform(0.9, 1.1)
    t = np.arange(int(dur * RATE)) / RATE
    env = np.sin(np.pi * t / dur) ** (1 + word % 3)
    sig = env * (np.sin(2 * np.pi * f1 * t) + 0.5 * np.sin(2 * np.pi * f2 * t))
    return 0.3 * sig + 0.01 * rng.randn(len(t))


def make_corpus(folder, n_utts=12, vocab=8, words=(3, 6), seed=0, single_word_utts=0):
    """Utterances of tone words following a Markov chain; returns the manifest path."""
    rng = np.random.RandomState(seed)
    segments = []
    os.makedirs(folder, exist_ok=True)
    for u in range(n_utts + single_word_utts):
        n = 1 if u >= n_utts else rng.randint(words[0], words[1] + 1)
        w = rng.randint(vocab)
        pieces, pos = [np.zeros(int(0.05 * RATE))], 0.05
        utt = f"spk{u % 2}_u{u:03d}"
        wav = os.path.join(folder, f"{utt}.wav")
        for p in range(n):
            sig = tone_word(w, rng)
            segments.append(Segment(wav, pos, pos + len(sig) / RATE, f"w{w}", f"spk{u % 2}", utt, p))
            gap = np.zeros(int(0.03 * RATE))
            pieces += [sig, gap]
            pos += (len(sig) + len(gap)) / RATE
            w = (w + rng.choice([1, 2])) % vocab
        soundfile.write(wav, np.concatenate(pieces).astype("float32"), RATE)
    manifest = os.path.join(folder, "train.csv")
    write_segment_manifest(segments, manifest)
    return manifest


@pytest.fixture(autouse=True)
def one_thread():
    """Two threads on a shared 2-core machine run RNNs ~10x slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tones")
    return make_corpus(str(folder), single_word_utts=2)


def test_pair_counts_known_utterance(caplog):
    rows = [dict(ID=f"u_{i}", utt_id="u", position=i) for i in range(6)]
    rows += [dict(ID="solo_0", utt_id="solo", position=0)]
    for window, pairs in [(1, 10), (2, 18), (3, 24)]:
        examples, stats = build_examples(rows, window)
        assert stats["skipgram_pairs"] == pairs == sum(len(c) for _, c in examples)
        assert stats["cbow_examples"] == 6 == len(examples)
    assert dict(examples)["u_3"] == ["u_0", "u_1", "u_2", "u_4", "u_5"]
    with caplog.at_level(logging.WARNING):
        _, stats = build_examples(rows, 2)
    assert stats["single_word_utterances"] == 1
    assert "one word" in caplog.text
    # A segment without features leaves a gap; its neighbours keep positions.
    examples, stats = build_examples(rows, 1, available={"u_0", "u_2", "u_3"})
    assert dict(examples) == {"u_2": ["u_3"], "u_3": ["u_2"]}
    assert stats["isolated_segments"] == 1
    with pytest.raises(ValueError):
        build_examples(rows, 0)


def test_features_cache_batches(corpus, tmp_path, monkeypatch):
    rows = read_segment_manifest(corpus)
    ex = FeatureExtractor(kind="mfcc", n_mfcc=13)
    store = load_features(corpus, str(tmp_path), ex, progress=False)
    assert len(store) == len(rows) and store.dim == 13
    assert store.ids == [r["ID"] for r in rows]
    # Frame counts follow the segment durations (10 ms hop).
    expected = [1 + int(round(r["duration"] * RATE)) // 160 for r in rows]
    assert np.abs(store.lengths.numpy() - np.array(expected)).max() <= 1
    cached = sorted(os.listdir(tmp_path))
    assert any(n.endswith(".feats.npy") for n in cached)
    assert any(n.endswith(".index.npz") for n in cached)

    # Second call: from the cache, same numbers, nothing recomputed.
    def boom(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr("speechbrain_align.speech.feature_cache.extract_features", boom)
    again = load_features(corpus, str(tmp_path), ex, progress=False)
    assert torch.equal(again.feats, store.feats)
    # Other options -> other key -> recomputed.
    with pytest.raises(AssertionError, match="recomputed"):
        load_features(corpus, str(tmp_path), FeatureExtractor(kind="fbank"), progress=False)
    monkeypatch.undo()

    # Normalisation, inference features on the same scale.
    mean, std = store.stats()
    store.normalise(mean, std)
    assert np.allclose(store.feats.mean(0).numpy(), 0, atol=1e-3)
    ex.set_stats(mean, std)
    ex.save(str(tmp_path / "fx.json"))
    ex2 = FeatureExtractor.load(str(tmp_path / "fx.json"))
    r = rows[3]
    audio, _ = soundfile.read(r["wav"], dtype="float32")
    sig = audio[int(round(r["start"] * RATE)) : int(round(r["stop"] * RATE))]
    assert torch.allclose(ex2.compute_features(sig), store.segment(3), atol=1e-4)

    # Batches: centres and their neighbours, padded; owner maps neighbours.
    examples, _ = build_examples(rows, 2, available=store.index)
    dataset = make_dataset(examples, store)
    batch = Speech2VecCollate(store)([dataset[i] for i in range(4)])
    assert batch.centre.shape[0] == 4 and batch.owner.max() == 3
    assert batch.context.shape[0] == sum(len(c) for _, c in examples[:4])
    # Same as SpeechBrain's batch_pad_right over the segments.
    from speechbrain.dataio.batch import PaddedBatch
    from speechbrain.utils.data_utils import batch_pad_right

    ctx_ids = [store.index[c] for _, cs in examples[:4] for c in cs]
    reference, _ = batch_pad_right([store.segment(i) for i in ctx_ids])
    assert torch.equal(batch.context, reference)
    assert batch.context_lens.tolist() == pytest.approx(
        [int(store.lengths[i]) / reference.shape[1] for i in ctx_ids])
    assert torch.equal(batch.context_lens, PaddedBatch([{"f": store.segment(i)} for i in ctx_ids]).f.lengths)
    assert batch.owner.tolist() == [b for b, (_, cs) in enumerate(examples[:4]) for _ in cs]
    limited = make_dataset(examples, store, max_contexts=1)
    assert all(len(limited[i]["context_indices"]) == 1 for i in range(len(examples)))


def test_bad_input(tmp_path, caplog):
    wav = str(tmp_path / "a.wav")
    audio = (0.1 * np.random.RandomState(0).randn(RATE)).astype("float32")
    audio[8000:8400] = np.nan
    soundfile.write(wav, audio, RATE, subtype="FLOAT")
    segs = [
        Segment(wav, 0.0, 0.3, "a", "s", "u", 0),
        Segment(wav, 0.45, 0.6, "b", "s", "u", 1),  # contains NaN samples
        Segment(wav, 0.7, 0.705, "c", "s", "u", 2),  # 80 samples: shorter than 3 frames
    ]
    manifest = str(tmp_path / "m.csv")
    write_segment_manifest(segs, manifest)
    rows = read_segment_manifest(manifest)
    ex = FeatureExtractor()
    with pytest.raises(FeatureError, match="u_0001"):
        extract_features(rows, ex, manifest)
    with caplog.at_level(logging.WARNING):
        store = extract_features(rows, ex, manifest, nonfinite="skip", short_segments="skip")
    assert store.ids == ["u_0000"] and store.skipped == {"short": 1, "nonfinite": 1}
    assert "skipped 1 of 3 segments (nonfinite)" in caplog.text
    store = extract_features(rows, ex, manifest, nonfinite="skip", short_segments="pad", min_frames=5)
    assert store.ids == ["u_0000", "u_0002"] and int(store.lengths[1]) >= 5
    with pytest.raises(FeatureError, match="u_0002"):
        extract_features(rows[2:], ex, manifest, short_segments="error")
    # A manifest whose ids repeat: clear error naming file and line.
    text = open(manifest).read().splitlines()
    with open(manifest, "w") as handle:
        handle.write("\n".join(text + [text[1]]) + "\n")
    with pytest.raises(ManifestError, match=r"m.csv:5: segment id 'u_0000' is repeated"):
        read_segment_manifest(manifest)


def test_loss_decreases_direct(corpus, tmp_path):
    torch.manual_seed(0)
    rows = read_segment_manifest(corpus)
    store = extract_features(rows, FeatureExtractor(), corpus)
    store.normalise(*store.stats())
    examples, _ = build_examples(rows, 2, available=store.index)
    dataset = make_dataset(examples, store)
    batch = Speech2VecCollate(store)([dataset[i] for i in range(16)])
    for objective in ("skipgram", "cbow"):
        model = Speech2Vec(13, emb_dim=8, enc_hidden=16, dec_hidden=16, objective=objective)
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        losses = []
        for _ in range(20):
            opt.zero_grad()
            loss = masked_mse(*model(batch.centre, batch.centre_lens, batch.context,
                                     batch.context_lens, batch.owner))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < 0.8 * losses[0], (objective, losses[0], losses[-1])


def _hparams(corpus, out, epochs, extra=""):
    overrides = (
        f"data_folder: {os.path.dirname(corpus)}\ntrain_csv: {corpus}\n"
        f"output_folder: {out}\nnumber_of_epochs: {epochs}\nenc_hidden: 16\ndec_hidden: 16\n"
        "emb_dim: 8\nbatch_size: 8\nkmeans_clusters: 4\nlr: 0.01\n" + extra
        + ("" if "valid_csv" in extra else "valid_csv: null\n")
    )
    with open(FAST_YAML, encoding="utf-8") as handle:
        return load_hyperpyyaml(handle, overrides)


def _log_epochs(out):
    with open(os.path.join(out, "train_log.txt")) as handle:
        lines = [line for line in handle if line.startswith("epoch")]
    return [int(line.split(",")[0].split()[1]) for line in lines], [
        float(line.split("loss: ")[1].split(",")[0]) for line in lines
    ]


def test_brain_train_resume_export(corpus, tmp_path):
    from speechbrain_align.speech.speech2vec_brain import run_speech2vec

    out = str(tmp_path / "run")
    opts = {"device": "cpu", "noprogressbar": True}
    summary = run_speech2vec(_hparams(corpus, out, 3), opts)
    epochs, losses = _log_epochs(out)
    assert epochs == [1, 2, 3]
    assert losses[-1] < losses[0]
    assert summary["train_examples"]["single_word_utterances"] == 2

    rows = read_segment_manifest(corpus)
    vec_dir = os.path.join(out, "vectors")
    segs = load_embeddings(os.path.join(vec_dir, "segments.vec"))
    segs_npz = load_embeddings(os.path.join(vec_dir, "segments.npz"))
    assert segs.words == [r["ID"] for r in rows] == segs_npz.words
    assert segs.vectors.shape == (len(rows), 8) and (segs.counts == 1).all()
    assert np.allclose(segs.vectors, segs_npz.vectors, atol=1e-5)
    types = load_embeddings(os.path.join(vec_dir, "types_label.vec"))
    labels = [r["word"] for r in rows]
    assert sorted(types.words) == sorted(set(labels))
    assert int(types.counts.sum()) == len(rows)
    assert types.counts[types.index["w3"]] == labels.count("w3")
    members = [i for i, w in enumerate(labels) if w == "w3"]
    assert np.allclose(types.vectors[types.index["w3"]], segs_npz.vectors[members].mean(0), atol=1e-4)
    clusters = load_embeddings(os.path.join(vec_dir, "types_kmeans.npz"))
    assign = read_assignment(os.path.join(vec_dir, "kmeans_assignment.csv"))
    assert set(assign) == set(segs.words) and set(assign.values()) == set(clusters.words)
    for name in clusters.words:
        ids = [segs_npz.index[s] for s, c in assign.items() if c == name]
        assert clusters.counts[clusters.index[name]] == len(ids)
        assert np.allclose(clusters.vectors[clusters.index[name]], segs_npz.vectors[ids].mean(0), atol=1e-4)
    assert os.path.exists(os.path.join(out, "save", "feature_extractor.json"))

    # Resume: a limit of 4 epochs trains only the 4th, from the checkpoint.
    run_speech2vec(_hparams(corpus, out, 4, f"export_csvs: [{corpus}]\n"), opts)
    epochs, _ = _log_epochs(out)
    assert epochs == [1, 2, 3, 4]
    # Extra manifests are embedded too (prefixed by their name).
    extra = load_embeddings(os.path.join(vec_dir, "train_segments.npz"))
    assert extra.words == segs.words and extra.dim == 8


def test_equal_chunks_recipe_runs(corpus, tmp_path):
    from speechbrain_align.speech.speech2vec_brain import run_speech2vec

    out = str(tmp_path / "chunks")
    summary = run_speech2vec(
        _hparams(corpus, out, 1, f"segmentation: equal_chunks\nobjective: cbow\nvalid_csv: {corpus}\n"),
        {"device": "cpu", "noprogressbar": True},
    )
    rows = read_segment_manifest(corpus)
    segs = load_embeddings(os.path.join(out, "vectors", "segments.npz"))
    assert len(segs) == len(rows) and all("_c" in w for w in segs.words)
    assert summary["export"]["label_types"] <= len({r["word"] for r in rows})
    epochs, losses = _log_epochs(out)
    assert epochs == [1]
    with open(os.path.join(out, "train_log.txt")) as handle:
        assert "valid loss" in handle.read()


@pytest.mark.parametrize("dataset", ["Bible", "LibriSpeech"])
def test_recipe_command_line(corpus, tmp_path, dataset):
    """The recipe's train.py runs from the command line (prepare skipped / given manifest)."""
    import subprocess
    import sys

    recipe = os.path.join(REPO, "recipes", dataset, "speech2vec")
    yaml = "speech2vec_fast.yaml" if dataset == "Bible" else "speech2vec.yaml"
    out = str(tmp_path / "out")
    cmd = [
        sys.executable, "train.py", f"hparams/{yaml}", f"--train_csv={corpus}",
        "--valid_csv=null", f"--output_folder={out}", "--number_of_epochs=1",
        "--enc_hidden=8", "--dec_hidden=8", "--kmeans_clusters=3", "--noprogressbar",
        "--device=cpu", "--cpu_threads=1",
    ]
    if dataset == "LibriSpeech":
        cmd += ["--data_folder=/nonexistent", "--skip_prep=True", "--max_contexts=1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=recipe, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    segs = load_embeddings(os.path.join(out, "vectors", "segments.npz"))
    assert segs.dim == 50 and len(segs) == len(read_segment_manifest(corpus))
    assert os.path.exists(os.path.join(out, "vectors", "types_kmeans.vec"))


def test_speaker_normalisation_removes_per_speaker_offset():
    from speechbrain_align.speech.features import FeatureStore, average_speaker_stats

    rng = np.random.RandomState(0)
    base = rng.randn(30, 4).astype("float32")
    offset, scale = np.array([5.0, -3.0, 0.5, 10.0], "float32"), 2.5
    # speaker b says the same frames as a, shifted and scaled; c says other frames
    feats = np.concatenate([base, base * scale + offset, rng.randn(10, 4) * 3 + 7])
    store = FeatureStore(["a1", "a2", "b1", "b2", "c1"], [0, 12, 30, 42, 60, 70], feats.copy())
    speakers = {"a1": "a", "a2": "a", "b1": "b", "b2": "b", "c1": "c"}
    stats = store.speaker_stats(speakers)
    assert np.allclose(stats["b"][0], base.mean(0) * scale + offset, atol=1e-4)
    assert np.allclose(stats["b"][1], base.std(0) * scale, atol=1e-4)
    store.normalise_by_speaker(speakers)
    out = store.feats.numpy()
    assert np.allclose(out[:30], out[30:60], atol=1e-4)  # the per-speaker offset is gone
    for lo, hi in ((0, 30), (30, 60), (60, 70)):  # each speaker with its own stats
        assert np.allclose(out[lo:hi].mean(0), 0, atol=1e-4)
        assert np.allclose(out[lo:hi].std(0), 1, atol=1e-3)
    # global normalisation keeps the offset
    glob = FeatureStore(["a1", "a2", "b1", "b2", "c1"], [0, 12, 30, 42, 60, 70], feats.copy())
    glob.normalise(*glob.stats())
    assert not np.allclose(glob.feats.numpy()[:30], glob.feats.numpy()[30:60], atol=0.1)
    # given stats are applied per speaker; unknown speakers and missing ids are errors
    other = FeatureStore(["b1"], [0, 12], feats[30:42].copy())
    other.normalise_by_speaker({"b1": "b"}, stats=stats)
    assert np.allclose(other.feats.numpy(), out[30:42], atol=1e-4)
    with pytest.raises(FeatureError, match="speaker 'x'"):
        FeatureStore(["b1"], [0, 12], feats[30:42]).normalise_by_speaker({"b1": "x"}, stats=stats)
    with pytest.raises(FeatureError, match="mine.csv.*no spk_id.*'b1'"):
        FeatureStore(["b1"], [0, 12], feats[30:42]).speaker_stats({"b1": ""}, source="mine.csv")
    mean, std = average_speaker_stats(stats)
    assert np.allclose(mean, np.mean([s[0] for s in stats.values()], 0))


def test_prepare_stores_speaker_norm_and_inference(corpus, tmp_path):
    from speechbrain_align.dataio.audio import load_segment
    from speechbrain_align.speech.speech2vec_brain import prepare_stores

    hp = _hparams(corpus, str(tmp_path / "spk"), 1, "feature_norm: speaker\n")
    assert hp["feature_norm"] == "speaker"
    rows = read_segment_manifest(corpus)
    valid = str(tmp_path / "valid.csv")  # a 'held-out' manifest: speaker spk1 only
    write_segment_manifest(
        [Segment(r["wav"], r["start"], r["stop"], r["word"], r["spk_id"], r["utt_id"],
                 r["position"]) for r in rows if r["spk_id"] == "spk1"], valid)
    (train, held), (train_rows, held_rows), extractor = prepare_stores(hp, [corpus, valid], False)
    spk = np.array([r["spk_id"] for r in train_rows])
    frame_spk = np.repeat(spk, train.lengths.numpy())
    for name in ("spk0", "spk1"):
        frames = train.feats.numpy()[frame_spk == name]
        assert np.allclose(frames.mean(0), 0, atol=1e-4) and np.allclose(frames.std(0), 1, atol=1e-3)
    # the held-out manifest's speaker uses its own statistics: identical to training
    assert np.allclose(held.feats.numpy(), train.feats.numpy()[frame_spk == "spk1"], atol=1e-4)
    # inference: norm and average-speaker stats saved; explicit speaker stats reproduce training
    path = str(tmp_path / "fx.json")
    extractor.save(path)
    loaded = FeatureExtractor.load(path)
    assert loaded.norm == "speaker" and np.allclose(loaded.mean, extractor.mean)
    row = train_rows[0]
    audio = load_segment(row["wav"])
    sig = audio[int(round(row["start"] * RATE)) : int(round(row["stop"] * RATE))]
    stats = train.speaker_stats({r["ID"]: r["spk_id"] for r in train_rows})  # normalised: ~0/1
    raw_store = load_features(corpus, hp["feature_cache"], FeatureExtractor(), progress=False)
    raw_stats = raw_store.speaker_stats({r["ID"]: r["spk_id"] for r in train_rows})
    assert np.allclose(stats[row["spk_id"]][0], 0, atol=1e-4)
    feats = loaded.compute_features(sig, *raw_stats[row["spk_id"]])
    assert np.allclose(feats.numpy(), train.segment(0).numpy(), atol=1e-3)
    lone = loaded.compute_features(sig)  # unknown speaker: average-speaker statistics
    assert lone.shape == feats.shape and torch.isfinite(lone).all()
    with pytest.raises(ValueError, match="feature_norm"):
        prepare_stores(dict(hp, feature_norm="utterance"), [corpus], False)
