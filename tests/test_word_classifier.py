"""Any isolated-word folder, speaker folds, the waveform (ECAPA) recipe, and the
EncoderClassifier export of every classifier recipe (tiny synthetic tones)."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

from speechbrain_align.dataio.manifest import (
    ManifestError,
    Segment,
    read_segment_manifest,
    write_segment_manifest,
)
from speechbrain_align.dataio.prepare import split_speakers_by_fold
from speechbrain_align.evaluation.cross_validation import folds_table, summarize_folds
from speechbrain_align.inference.word_classifier import load_word_classifier
from speechbrain_align.speech.classifier_brain import run_classification

REPO = pathlib.Path(__file__).resolve().parents[1]
SC = REPO / "recipes" / "SpeechCommands"
sys.path.insert(0, str(SC))
import speech_commands_prepare as commands  # noqa: E402

TONES = {"alpha": 300.0, "bravo": 1100.0, "charlie": 3000.0}


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tone(freq, dur, rate, rng):
    t = np.arange(int(dur * rate)) / rate
    sig = 0.3 * np.sin(2 * np.pi * freq * (1 + 0.03 * rng.normal()) * t)
    return (sig + 0.01 * rng.normal(size=t.size)).astype("float32")


def _speakers(n_folds=2, valid_fraction=0.25, per_part=2):
    """Speaker ids giving ``per_part`` speakers to every split of every fold."""
    candidates = [f"{i:08x}" for i in range(0, 20000, 13)]
    splits = [split_speakers_by_fold(candidates, n_folds, k, valid_fraction) for k in range(n_folds)]
    chosen = []
    for k in range(n_folds):
        for part in ("train", "valid", "test"):
            have = [c for c in chosen if splits[k][c] == part]
            chosen += [c for c in candidates if splits[k][c] == part and c not in chosen][: max(0, per_part - len(have))]
    return chosen


def _word_folder(root, speakers, rate=8000, nested=False, per_speaker=2):
    """``root/<word>/<spk>_nohash_<n>.flac`` (or ``root/<word>/<spk>/<n>.wav``) tones."""
    rng = np.random.default_rng(0)
    for word, freq in TONES.items():
        for spk in speakers:
            for n in range(per_speaker):
                sig = _tone(freq, rng.uniform(0.25, 0.45), rate, rng)
                path = root / word / spk / f"{n}.wav" if nested else root / word / f"{spk}_nohash_{n}.flac"
                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(path, sig, rate)
    return root


def test_word_list_comes_from_the_folders_at_any_rate_and_layout(tmp_path):
    speakers = _speakers()
    for nested in (False, True):
        root = _word_folder(tmp_path / f"words{nested}", speakers, nested=nested)
        (root / "_background_noise_").mkdir()
        out = commands.prepare_speech_commands(str(root), str(tmp_path / f"m{nested}"), test_fraction=0.3,
                                               n_folds=2, fold=1, valid_fraction=0.25)
        parts = {n: read_segment_manifest(p) for n, p in out.items()}
        assert {r["word"] for r in parts["train"]} == set(TONES)
        spk = {n: {r["spk_id"] for r in rows} for n, rows in parts.items()}
        assert spk["train"] | spk["valid"] | spk["test"] == set(speakers)
        assert not (spk["train"] & spk["test"] or spk["train"] & spk["valid"] or spk["valid"] & spk["test"])
        assert len(spk["test"]) >= 2 and len(spk["valid"]) >= 2
    # The folds' test sets partition the speakers.
    tests = [{s for s, p in split_speakers_by_fold(speakers, 2, k, 0.25).items() if p == "test"} for k in (0, 1)]
    assert tests[0] | tests[1] == set(speakers) and not tests[0] & tests[1]


def test_split_with_one_speaker_or_none_is_a_clear_error(tmp_path):
    root = _word_folder(tmp_path / "w", ["aaaa0001", "bbbb0002"])
    with pytest.raises(ManifestError, match=r"(split has .* speaker\(s\) \(need at least 2|none of the 2 speakers falls in)"):
        commands.prepare_speech_commands(str(root), str(tmp_path / "m"), valid_fraction=0.1, test_fraction=0.2)
    # The command line says it in one line, without a traceback.
    proc = subprocess.run([sys.executable, str(SC / "speech_commands_prepare.py"), str(root), str(tmp_path / "m2")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="no word folders"):
        commands.prepare_speech_commands(str(tmp_path / "empty"), str(tmp_path / "m3"))


def _manifests(root, folder):
    out = commands.prepare_speech_commands(str(root), str(folder), n_folds=2, fold=0, valid_fraction=0.25)
    return {f"{n}_csv": p for n, p in out.items()}


ECAPA_SMALL = {"channels": 16, "emb_dim": 16, "batch_size": 6, "lr": 0.01, "label_smoothing": 0.0}


def test_waveform_recipe_learns_exports_and_loads_as_encoder_classifier(tmp_path):
    root = _word_folder(tmp_path / "words", _speakers(), rate=22050, per_speaker=4)
    out = tmp_path / "ecapa"
    overrides = dict(_manifests(root, tmp_path / "m"), data_folder=str(root), output_folder=str(out),
                     number_of_epochs=15, **ECAPA_SMALL)
    overrides["test_dataloader_options"] = {"batch_size": 1}  # no padding: exact comparison below
    results = run_classification(SC / "classification" / "hparams" / "ecapa.yaml", {"device": "cpu"}, overrides)
    assert results["n_classes"] == 3 and results["model"] == "ecapa"
    assert results["test_accuracy"] > 0.8  # chance is 1/3
    confusion = json.loads((out / "confusion.json").read_text())
    assert confusion["classes"] == sorted(TONES)
    assert np.trace(confusion["matrix"]) == round(results["test_accuracy"] * results["split_sizes"]["test"])
    assert (out / "confusion_matrix.png").stat().st_size > 1000
    log = (out / "train_log.txt").read_text()
    assert log.count("train seconds") == 15 and "epoch: 1, lr: 1.00e-02" in log
    # A rerun resumes from the last checkpoint: no training, same test result.
    again = run_classification(SC / "classification" / "hparams" / "ecapa.yaml", {"device": "cpu"}, overrides)
    assert again["test_accuracy"] == pytest.approx(results["test_accuracy"])
    assert (out / "train_log.txt").read_text().count("train seconds") == 15
    # The exported folder loads with SpeechBrain's interface and agrees with the Brain.
    from speechbrain.inference.classifiers import EncoderClassifier

    classifier = EncoderClassifier.from_hparams(source=str(out / "inference"))
    rows = read_segment_manifest(overrides["test_csv"])
    answers = [classifier.classify_file(r["wav"])[3][0] for r in rows]
    assert np.mean([a == r["word"] for a, r in zip(answers, rows)]) == pytest.approx(results["test_accuracy"])
    log_probs = classifier.classify_file(rows[0]["wav"])[0]
    assert log_probs.shape[-1] == 3 and torch.allclose(log_probs.exp().sum(), torch.tensor(1.0), atol=1e-4)


@pytest.mark.parametrize("recipe", ["SpeechCommands/bilstm", "SpeechCommands/mlp", "Bible/bilstm"])
def test_frame_and_image_classifiers_load_as_encoder_classifier(tmp_path, recipe):
    """BiLSTM (Speech Commands and Bible recipes) and MLP: exported, loaded, same answers."""
    corpus, model = recipe.split("/")
    rng = np.random.default_rng(1)
    segments = {"train": [], "valid": [], "test": []}
    for s, split in enumerate(["train"] * 4 + ["valid", "test"]):
        spk = f"spk{s}"
        for word, freq in TONES.items():
            for n in range(4 if split == "train" else 2):
                path = tmp_path / f"{spk}_{word}_{n}.wav"
                sig = _tone(freq, rng.uniform(0.25, 0.5), 16000, rng)
                soundfile.write(path, sig, 16000, subtype="FLOAT")  # exact samples back
                segments[split].append(Segment(str(path), 0.0, len(sig) / 16000, word, spk, path.stem, 0))
    csvs = {}
    for split, segs in segments.items():
        csvs[f"{split}_csv"] = str(tmp_path / f"{split}.csv")
        write_segment_manifest(segs, csvs[f"{split}_csv"])
    out = tmp_path / "out"
    overrides = dict(csvs, data_folder=str(tmp_path), output_folder=str(out), batch_size=8,
                     number_of_epochs=8 if model == "mlp" else 6, min_train_tokens=1)
    overrides["test_dataloader_options"] = {"batch_size": 1}
    if model == "mlp":
        overrides.update({"hidden_sizes": [32], "lr": 0.003})
    else:
        overrides.update({"hidden_size": 16, "n_mels": 20, "lr": 0.01})
    hparams = REPO / "recipes" / corpus / "classification" / "hparams" / f"{model}.yaml"
    results = run_classification(hparams, {"device": "cpu"}, overrides)
    assert results["test_accuracy"] > 0.8
    classifier = load_word_classifier(out / "inference")
    assert classifier.hparams.n_classes == 3
    answers = [classifier.classify_file(s.wav)[3][0] for s in segments["test"]]
    accuracy = np.mean([a == s.word for a, s in zip(answers, segments["test"])])
    assert accuracy == pytest.approx(results["test_accuracy"])
    # A batch of equal-length signals gives the same answers as one file at a time.
    sigs = torch.stack([torch.from_numpy(soundfile.read(s.wav, dtype="float32")[0][:4000])
                        for s in segments["test"][:4]])
    batch = classifier.classify_batch(sigs)[3]
    assert batch == [classifier.classify_batch(x[None])[3][0] for x in sigs]


def test_fold_summary_and_table(tmp_path):
    from speechbrain_align.utils.files import write_json

    folders = []
    for k, acc in enumerate([0.90, 0.94, 0.92]):
        folder = tmp_path / f"fold{k}"
        folder.mkdir()
        write_json(folder / "test_results.json", {"model": "ecapa", "test_accuracy": acc,
                                                  "split_sizes": {"test": 50}, "n_classes": 2})
        write_json(folder / "confusion.json", {"classes": ["a", "b"], "matrix": [[20, k], [5, 25]]})
        (folder / "train_log.txt").write_text(
            f"epoch: 1, lr: 1.00e-03, train seconds: {4 + k} - train loss: 1.0 - valid loss: 1.1\n")
        folders.append(str(folder))
    summary = summarize_folds(folders[0], folders)
    assert summary["mean"] == pytest.approx(0.92) and summary["std"] == pytest.approx(0.02)
    assert summary["fixed"] == pytest.approx(0.90) and summary["train_seconds_per_epoch"] == pytest.approx(4.75)  # fixed run counted too
    assert summary["confusion"]["matrix"] == [[60, 3], [15, 75]]
    table = folds_table([summary])
    assert "| ecapa | 90.0 % | 92.0 +- 2.0 % | 90.0-94.0 % | 1 | 4.8 |" in table
    with pytest.raises(FileNotFoundError, match="test_results.json"):
        summarize_folds(None, [str(tmp_path / "missing")])


def test_temporal_conv_encoder_shapes_lengths_and_errors():
    from speechbrain_align.nnet.word_cnn import TemporalConvEncoder

    torch.manual_seed(0)
    enc = TemporalConvEncoder(20, channels=[8, 12, 16], emb_dim=6).eval()
    x = torch.randn(2, 40, 20)
    full = enc(x, torch.tensor([1.0, 1.0]))
    assert full.shape == (2, 1, 6)
    # A shorter relative length pools fewer frames: a different embedding for that row only.
    half = enc(x, torch.tensor([1.0, 0.5]))
    assert torch.allclose(half[0], full[0], atol=1e-3)  # (the pooling adds 1e-4 noise)
    assert not torch.allclose(half[1], full[1], atol=1e-3)
    with pytest.raises(ValueError, match="batch, time, features"):
        enc(torch.randn(40, 20))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        TemporalConvEncoder(20, kernel_size=4)
    with pytest.raises(ValueError, match="at least 2 channel sizes"):
        TemporalConvEncoder(20, channels=[8])
