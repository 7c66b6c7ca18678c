"""Supervised word classifiers: shapes, padding invariance, a tiny recipe run."""

import json
import os
import pathlib

import numpy as np
import pytest
import soundfile
import torch

from speechbrain_align.dataio.manifest import ManifestError, Segment, write_segment_manifest
from speechbrain_align.nnet.classifiers import ImageMLP, LastStepBiLSTM
from speechbrain_align.nnet.lengths import relative_to_absolute
from speechbrain_align.speech.classifier_brain import run_classification
from speechbrain_align.speech.classifier_data import BucketBatchSampler, FrameCollate, select_classes
from speechbrain_align.speech.features import FeatureStore

REPO = pathlib.Path(__file__).resolve().parents[1]
SC_HPARAMS = REPO / "recipes" / "SpeechCommands" / "classification" / "hparams"


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run far faster on one thread on a loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



def test_bilstm_shapes_and_log_probs():
    model = LastStepBiLSTM(input_size=5, hidden_size=7, n_classes=3)
    out = model(torch.randn(4, 11, 5), torch.tensor([1.0, 0.6, 0.3, 0.1]))
    assert out.shape == (4, 3)
    assert torch.allclose(out.exp().sum(-1), torch.ones(4), atol=1e-5)
    assert model.last_state(torch.randn(2, 6, 5)).shape == (2, 14)


def test_bilstm_ignores_padded_frames():
    torch.manual_seed(0)
    model = LastStepBiLSTM(input_size=4, hidden_size=6, n_classes=5).eval()
    x = torch.randn(3, 10, 4)
    lens = torch.tensor([1.0, 0.5, 0.3])
    ref = model(x, lens)
    y = x.clone()
    y[1, 5:] = 100.0 * torch.randn(5, 4)
    y[2, 3:] = -50.0
    assert torch.allclose(model(y, lens), ref, atol=1e-6)
    # The padded sequence gives the same output as the unpadded one alone.
    alone = model(x[1:2, :5], torch.tensor([1.0]))
    assert torch.allclose(alone, ref[1:2], atol=1e-5)
    # ...and changing a valid frame does change the output.
    y[1, 4] += 3.0
    assert not torch.allclose(model(y, lens)[1], ref[1], atol=1e-4)


def test_bilstm_uses_both_directions():
    torch.manual_seed(1)
    model = LastStepBiLSTM(input_size=2, hidden_size=3, n_classes=2).eval()
    x = torch.randn(1, 8, 2)
    state = model.last_state(x)
    first = x.clone()
    first[0, 0] += 5.0  # the backward state at frame 0 sees it directly
    last = x.clone()
    last[0, -1] += 5.0  # the forward state at the last frame sees it directly
    assert not torch.allclose(model.last_state(first)[0, 3:], state[0, 3:])
    assert not torch.allclose(model.last_state(last)[0, :3], state[0, :3])


def test_bad_inputs_error_clearly():
    with pytest.raises(ValueError, match="relative lengths"):
        relative_to_absolute(torch.tensor([0.0, 1.0]), 5)
    with pytest.raises(ValueError, match="relative lengths"):
        relative_to_absolute(torch.tensor([2.0]), 5)
    with pytest.raises(ValueError, match="batch, time, features"):
        LastStepBiLSTM(3, 4, 2)(torch.randn(5, 3))
    mlp = ImageMLP(input_size=16, hidden_sizes=[8], n_classes=2)
    with pytest.raises(ValueError, match=r"\(batch, 16\)"):
        mlp(torch.randn(2, 15))
    with pytest.raises(ValueError, match="sizes must be"):
        ImageMLP(16, [0], 2)


def test_mlp_learns_separable_toy_task():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 32)) * 2
    labels = rng.integers(0, 4, size=400)
    x = torch.tensor(centers[labels] + rng.normal(size=(400, 32)), dtype=torch.float32)
    y = torch.tensor(labels)
    model = ImageMLP(32, [16], 4, dropout=0.1)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.nll_loss(model(x[:300]), y[:300]).backward()
        opt.step()
    model.eval()
    acc = (model(x[300:]).argmax(-1) == y[300:]).float().mean().item()
    assert acc > 0.9  # chance is 0.25


def _toy_corpus(folder, n_spk=6, per_word=5, extra_words=None):
    """Three 'words' = tones at different pitches, several 'speakers'."""
    rng = np.random.default_rng(0)
    freqs = {"low": 250.0, "mid": 900.0, "high": 2800.0}
    freqs.update(extra_words or {})
    segments = {"train": [], "valid": [], "test": []}
    for s in range(n_spk):
        split = "train" if s < 4 else ("valid" if s == 4 else "test")
        spk = f"spk{s}"
        for word, freq in freqs.items():
            for n in range(per_word):
                dur = rng.uniform(0.25, 0.6)
                t = np.arange(int(dur * 16000)) / 16000
                f = freq * (1 + 0.05 * rng.normal())
                sig = 0.3 * np.sin(2 * np.pi * f * t) + 0.02 * rng.normal(size=t.size)
                path = os.path.join(folder, f"{spk}_{word}_{n}.wav")
                soundfile.write(path, sig.astype("float32"), 16000)
                segments[split].append(
                    Segment(path, 0.0, round(dur, 4) - 0.001, word, spk, f"{spk}_{word}_{n}", 0)
                )
    # A test word never seen in training: counted, not classified.
    segments["test"].append(Segment(path, 0.0, 0.2, "unseen", "spk5", "u_x", 0))
    for split, segs in segments.items():
        write_segment_manifest(segs, os.path.join(folder, f"{split}.csv"))


@pytest.mark.parametrize("model", ["mlp", "bilstm", "bilstm_buckets"])
def test_recipe_learns_toy_words_and_resumes(tmp_path, model):
    _toy_corpus(str(tmp_path))
    out = tmp_path / f"out_{model}"
    overrides = {
        "data_folder": str(tmp_path),
        "output_folder": str(out),
        "train_csv": str(tmp_path / "train.csv"),
        "valid_csv": str(tmp_path / "valid.csv"),
        "test_csv": str(tmp_path / "test.csv"),
        "number_of_epochs": 8 if model == "mlp" else 6,
        "batch_size": 8,
    }
    if model == "mlp":
        overrides.update({"hidden_sizes": [32], "lr": 0.003})
    else:
        overrides.update({"hidden_size": 16, "n_mels": 20, "lr": 0.01})
        if model == "bilstm_buckets":
            overrides["sorting"] = "buckets"
        model = "bilstm"
    hparams = SC_HPARAMS / f"{model}.yaml"
    results = run_classification(hparams, {"device": "cpu"}, overrides)
    assert results["n_classes"] == 3
    assert results["split_sizes"] == {"train": 60, "valid": 15, "test": 15}
    assert results["splits"]["test"]["tokens_unseen_in_train"] == 1
    assert results["test_accuracy"] > 0.8  # chance is 1/3
    saved = json.loads((out / "test_results.json").read_text())
    assert saved["test_accuracy"] == pytest.approx(results["test_accuracy"])
    log = (out / "train_log.txt").read_text()
    assert "epoch: 1" in log and "test" in log.lower()
    assert (out / "save" / "label_encoder.txt").is_file()
    if model == "bilstm":
        # Features cached once per manifest (3 splits), extractor saved with statistics.
        cached = sorted((out / "feature_cache").glob("*.feats.npy"))
        assert len(cached) == 3
        stamps = [p.stat().st_mtime_ns for p in cached]
        extractor = json.loads((out / "save" / "feature_extractor.json").read_text())
        assert extractor["options"]["kind"] == "fbank" and extractor["options"]["n_mels"] == 20
        assert len(extractor["mean"]) == 20
    # A second run resumes from the last checkpoint: no more training epochs.
    again = run_classification(hparams, {"device": "cpu"}, overrides)
    if model == "bilstm":  # ...and reads the cached features instead of recomputing
        assert sorted((out / "feature_cache").glob("*.feats.npy")) == cached
        assert [p.stat().st_mtime_ns for p in cached] == stamps
    assert again["test_accuracy"] == pytest.approx(results["test_accuracy"])
    log2 = (out / "train_log.txt").read_text()
    assert log2.count("epoch:") == log.count("epoch:")
    assert log2.count("Epoch loaded") == log.count("Epoch loaded") + 1


def test_select_classes_and_errors(tmp_path):
    rows = [{"word": w} for w in "x x y y y z".split()]
    classes, counts = select_classes(rows, min_train_tokens=2)
    assert classes == ["x", "y"] and counts["z"] == 1
    _toy_corpus(str(tmp_path), n_spk=6, per_word=1)
    overrides = {
        "data_folder": str(tmp_path),
        "output_folder": str(tmp_path / "o"),
        "train_csv": str(tmp_path / "train.csv"),
        "valid_csv": str(tmp_path / "valid.csv"),
        "test_csv": str(tmp_path / "test.csv"),
        "min_train_tokens": 100,
    }
    with pytest.raises(ManifestError, match="train.csv.*need at least 2 classes"):
        run_classification(SC_HPARAMS / "mlp.yaml", {"device": "cpu"}, overrides)


def test_bible_recipe_counts_classes_and_dropped_tokens(tmp_path):
    """Words under min_train_tokens are not classes; their tokens are counted."""
    _toy_corpus(str(tmp_path), per_word=3, extra_words={"rare": 5000.0})
    rows = [r for r in open(tmp_path / "train.csv").read().splitlines()[1:] if ",rare," in r]
    # Keep only 2 train tokens of "rare": below the threshold of 5.
    lines = open(tmp_path / "train.csv").read().splitlines()
    kept = [l for l in lines if l not in rows[2:]]
    (tmp_path / "train.csv").write_text("\n".join(kept) + "\n")
    overrides = {
        "data_folder": str(tmp_path),
        "output_folder": str(tmp_path / "out"),
        "train_csv": str(tmp_path / "train.csv"),
        "valid_csv": str(tmp_path / "valid.csv"),
        "test_csv": str(tmp_path / "test.csv"),
        "min_train_tokens": 5,
        "number_of_epochs": 2,
        "hidden_sizes": [16],
    }
    bible = REPO / "recipes" / "Bible" / "classification" / "hparams" / "mlp.yaml"
    results = run_classification(bible, {"device": "cpu"}, overrides)
    assert results["n_classes"] == 3 and "rare" not in results["classes"]
    test = results["splits"]["test"]
    assert test["tokens_rare_in_train"] == 3 and test["types_rare_in_train"] == 1
    assert test["tokens_unseen_in_train"] == 1
    assert results["split_sizes"] == {"train": 36, "valid": 9, "test": 9}
    assert results["test_accuracy_counting_dropped_as_errors"] == pytest.approx(
        results["test_accuracy"] * 9 / 13
    )


def test_speech_commands_train_script_end_to_end(tmp_path):
    """recipes/SpeechCommands/classification/train.py: prepare, train, test, JSON."""
    import subprocess
    import sys

    from speechbrain_align.dataio.alignments import split_speakers_by_hash

    words = ["down", "go", "left", "no", "right", "stop", "up", "yes"]
    candidates = [f"{i:08x}" for i in range(0, 4000, 7)]
    split = split_speakers_by_hash(candidates, 0.1, 0.2)
    speakers = [s for part in ("train", "valid", "test")
                for s in [c for c in candidates if split[c] == part][: 4 if part == "train" else 2]]
    rng = np.random.default_rng(0)
    for w, word in enumerate(words):
        os.makedirs(tmp_path / "sc" / word)
        for spk in speakers:
            t = np.arange(4000) / 16000
            sig = 0.3 * np.sin(2 * np.pi * 200 * (w + 1) * t) + 0.01 * rng.normal(size=t.size)
            soundfile.write(tmp_path / "sc" / word / f"{spk}_nohash_0.wav", sig.astype("float32"), 16000)
    script = REPO / "recipes" / "SpeechCommands" / "classification" / "train.py"
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(script), str(SC_HPARAMS / "mlp.yaml"), "--data_folder", str(tmp_path / "sc"),
         "--output_folder", str(out), "--number_of_epochs", "2", "--device", "cpu", "--noprogressbar"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test accuracy" in proc.stdout
    results = json.loads((out / "test_results.json").read_text())
    assert results["split_sizes"] == {"train": 32, "valid": 16, "test": 16}
    assert results["splits"]["test"]["speakers_kept"] == 2
    assert (out / "manifests" / "train.csv").is_file() and (out / "train_log.txt").is_file()


def test_frame_collate_pads_without_changing_the_model_output():
    """A segment gives the same BiLSTM output alone and inside a padded batch."""
    torch.manual_seed(0)
    lengths = [7, 3, 12, 1]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    store = FeatureStore(["a", "b", "c", "d"], offsets, torch.randn(offsets[-1], 5))
    items = [{"id": k, "index": i, "word_encoded": torch.LongTensor([i % 2])}
             for i, k in enumerate(store.ids)]
    batch = FrameCollate(store)(items)
    frames, rel = batch.feats
    assert frames.shape == (4, 12, 5)
    assert torch.allclose(rel * 12, torch.tensor(lengths, dtype=torch.float32))
    assert batch.id == ["a", "b", "c", "d"] and batch.word_encoded[0].tolist() == [[0], [1], [0], [1]]
    for i, n in enumerate(lengths):  # frames copied, padding zero
        assert torch.equal(frames[i, :n], store.segment(i))
        assert not frames[i, n:].any()
    model = LastStepBiLSTM(input_size=5, hidden_size=6, n_classes=3).eval()
    together = model(frames, rel)
    for i in range(4):
        alone = FrameCollate(store)([items[i]])
        assert torch.allclose(model(*alone.feats), together[i : i + 1], atol=1e-5)


def test_bucket_sampler_covers_everything_with_little_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 100, size=103).tolist()
    sampler = BucketBatchSampler(lengths, batch_size=10, seed=3)
    sampler.set_epoch(1)
    first = list(sampler)
    assert len(first) == len(sampler) == 11
    assert sorted(i for b in first for i in b) == list(range(103))
    # Batches hold neighbours in length order: far less spread than random batches.
    spread = np.mean([np.ptp([lengths[i] for i in b]) for b in first if len(b) > 1])
    assert spread < 20
    sampler.set_epoch(1)
    assert list(sampler) == first  # the epoch fixes the order (resumable)
    sampler.set_epoch(2)
    assert list(sampler) != first
