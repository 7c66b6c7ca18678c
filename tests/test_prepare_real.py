"""Prepare scripts for LibriSpeech, TIMIT and Speech Commands (recipes/*/*_prepare.py)."""

import collections
import importlib.util
import logging
import os

import numpy as np
import pytest
import soundfile

from speechbrain_align.dataio.alignments import AlignmentError
from speechbrain_align.dataio.manifest import ManifestError, read_segment_manifest
from speechbrain_align.dataio.textgrid import format_textgrid

RECIPES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes")


def load_recipe(rel_path):
    """Import a prepare script by path (recipes are not a package)."""
    path = os.path.join(RECIPES, rel_path)
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


libri = load_recipe("LibriSpeech/librispeech_prepare.py")
timit = load_recipe("TIMIT/timit_prepare.py")
commands = load_recipe("SpeechCommands/speech_commands_prepare.py")


def write_audio(path, seconds, rate=16000, fmt=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = np.zeros(int(round(seconds * rate)), dtype="float32")
    data[::50] = 0.1
    soundfile.write(path, data, rate, format=fmt, subtype="PCM_16")


# ---------------------------------------------------------------- LibriSpeech

# (split, speaker, chapter, n utterances)
LIBRI_LAYOUT = [
    ("train-clean-100", "19", "198", 2),
    ("train-clean-100", "103", "1240", 2),
    ("dev-clean", "84", "121123", 2),
    ("test-clean", "61", "70968", 1),
]


def make_libri(tmp_path, fmt):
    """A tiny LibriSpeech tree; alignments inside it (txt) or in a separate tree."""
    data = tmp_path / "LibriSpeech"
    align = data if fmt == "txt" else tmp_path / "mfa"
    for split, spk, chapter, n in LIBRI_LAYOUT:
        chap = data / split / spk / chapter
        lines = []
        for i in range(n):
            utt = f"{spk}-{chapter}-{i:04d}"
            write_audio(str(chap / f"{utt}.flac"), 1.5)
            words, ends = ["", "HELLO", "", f"WORD{'ABCD'[i]}", ""], [0.2, 0.6, 0.7, 1.2, 1.5]
            if fmt == "txt":
                lines.append(f'{utt} "{",".join(words)}" "{",".join(map(str, ends))}"')
            else:
                starts = [0.0] + ends[:-1]
                grid = align / split / spk / chapter / f"{utt}.TextGrid"
                grid.parent.mkdir(parents=True, exist_ok=True)
                grid.write_text(format_textgrid({"words": list(zip(starts, ends, words))}))
        if fmt == "txt":
            (chap / f"{spk}-{chapter}.alignment.txt").write_text("\n".join(lines) + "\n")
    return data, (None if fmt == "txt" else align)


@pytest.mark.parametrize("fmt", ["txt", "textgrid"])
def test_prepare_librispeech_both_formats(tmp_path, fmt):
    data, align = make_libri(tmp_path, fmt)
    save = tmp_path / "prepared"
    out = libri.prepare_librispeech(str(data), str(save), alignments_folder=align and str(align))
    assert set(out) == {"train", "valid", "test"}
    train = read_segment_manifest(out["train"])
    # 4 utterances x 2 words, chapters contiguous and in natural order (19 before 103)
    assert [r["utt_id"] for r in train][::2] == [
        "19-198-0000", "19-198-0001", "103-1240-0000", "103-1240-0001"]
    assert [r["word"] for r in train[:4]] == ["hello", "worda", "hello", "wordb"]
    assert [r["position"] for r in train[:2]] == [0, 1]
    assert (train[1]["start"], train[1]["stop"]) == (0.7, 1.2)
    assert train[0]["wav"] == str(data / "train-clean-100" / "19" / "198" / "19-198-0000.flac")
    assert len(read_segment_manifest(out["valid"])) == 4
    assert {r["spk_id"] for r in read_segment_manifest(out["test"])} == {"61"}


def test_prepare_librispeech_skips_done_work_and_fails_cleanly(tmp_path, caplog):
    data, _ = make_libri(tmp_path, "txt")
    save = tmp_path / "prepared"
    out = libri.prepare_librispeech(str(data), str(save))
    mtime = os.stat(out["train"]).st_mtime_ns
    with caplog.at_level(logging.INFO):
        libri.prepare_librispeech(str(data), str(save))
    assert "already prepared" in caplog.text
    assert os.stat(out["train"]).st_mtime_ns == mtime
    # other options -> redone; an empty split list writes no file
    out2 = libri.prepare_librispeech(str(data), str(tmp_path / "p2"), te_splits=[])
    assert set(out2) == {"train", "valid"} and not (tmp_path / "p2" / "test.csv").exists()
    # a broken test split: nothing written at all (train/valid are not left behind)
    bad = data / "test-clean" / "61" / "70968" / "61-70968.alignment.txt"
    bad.write_text('61-70968-0000 ",HELLO" "0.2,0.6,0.9"\n')
    save3 = tmp_path / "p3"
    with pytest.raises(AlignmentError, match=r"61-70968.alignment.txt:1: 2 words but 3 times"):
        libri.prepare_librispeech(str(data), str(save3))
    assert not save3.exists() or os.listdir(save3) == []
    # with on_error="skip" the bad utterance is dropped
    out4 = libri.prepare_librispeech(str(data), str(tmp_path / "p4"), on_error="skip")
    assert read_segment_manifest(out4["test"]) == []
    with pytest.raises(AlignmentError, match="alignment folder for split 'dev-other' not found"):
        libri.prepare_librispeech(str(data), str(tmp_path / "p5"), dev_splits=["dev-other"])


def test_librispeech_cli(tmp_path, capsys):
    data, _ = make_libri(tmp_path, "txt")
    libri.main([str(data), str(tmp_path / "cli"), "--test", "--format", "txt"])
    printed = capsys.readouterr().out
    assert "train:" in printed and "test:" not in printed
    assert len(read_segment_manifest(tmp_path / "cli" / "train.csv")) == 8


# ---------------------------------------------------------------- TIMIT


def test_prepare_timit_sample_is_speaker_disjoint(timit_sample, tmp_path):
    out = timit.prepare_timit(str(timit_sample), str(tmp_path / "timit"))
    parts = {name: read_segment_manifest(path) for name, path in out.items()}
    speakers = {name: {r["spk_id"] for r in rows} for name, rows in parts.items()}
    assert sum(len(r) for r in parts.values()) == 1394
    assert sum(len(s) for s in speakers.values()) == 16
    assert not speakers["train"] & speakers["valid"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["valid"] & speakers["test"]
    assert all(rows for rows in parts.values())
    # both sexes in test (speaker codes start with f/m)
    assert {s[0] for s in speakers["test"]} == {"f", "m"}
    assert len(speakers["valid"]) == 2 and {s[0] for s in speakers["valid"]} == {"f", "m"}
    # deterministic: same seed, same split
    again = timit.prepare_timit(str(timit_sample), str(tmp_path / "timit2"))
    assert read_segment_manifest(again["test"]) == parts["test"]


def test_prepare_timit_full_layout(tmp_path):
    root = tmp_path / "TIMIT"
    for split, region, speakers in [("TRAIN", "DR1", ["FAAA0", "MBBB0", "FCCC0", "MDDD0"]),
                                    ("TEST", "DR2", ["FEEE0"])]:
        for spk in speakers:
            folder = root / split / region / spk
            for sent in ("SA1", "SX10"):
                write_audio(str(folder / f"{sent}.WAV"), 0.5, fmt="NIST")
                (folder / f"{sent}.WRD").write_text("800 3200 one\n3200 6400 two\n")
    out = timit.prepare_timit(str(root), str(tmp_path / "p"), valid_fraction=0.25)
    spk = {n: {r["spk_id"] for r in read_segment_manifest(p)} for n, p in out.items()}
    assert spk["test"] == {"feee0"}
    assert len(spk["valid"]) == 1 and len(spk["train"]) == 3
    assert not spk["valid"] & spk["train"]
    out = timit.prepare_timit(str(root), str(tmp_path / "p2"), drop_sa=True)
    assert {r["utt_id"].split("_")[1] for r in read_segment_manifest(out["train"])} == {"sx10"}


# ---------------------------------------------------------------- Speech Commands


def test_prepare_speech_commands_shared_folder(speech_commands, tmp_path):
    out = commands.prepare_speech_commands(str(speech_commands), str(tmp_path / "sc"))
    parts = {n: read_segment_manifest(p) for n, p in out.items()}
    sizes = {n: len(r) for n, r in parts.items()}
    assert sum(sizes.values()) == 3276
    speakers = {n: {r["spk_id"] for r in rows} for n, rows in parts.items()}
    assert not speakers["train"] & speakers["valid"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["valid"] & speakers["test"]
    for name in ("valid", "test"):  # about 10 % of the speakers each
        assert 0.05 < len(speakers[name]) / 236 < 0.15
        assert {r["word"] for r in parts[name]} == set(commands.SPEECH_COMMANDS_TEST_WORDS)
    two = commands.prepare_speech_commands(str(speech_commands), str(tmp_path / "sc2"),
                                           words=["yes", "no"])
    words = collections.Counter(r["word"] for r in read_segment_manifest(two["train"]))
    assert set(words) == {"yes", "no"}


def test_prepare_speech_commands_official_lists(tmp_path, caplog):
    for word in ("yes", "no", "cat"):
        for spk in ("aaaa1111", "bbbb2222", "cccc3333"):
            write_audio(str(tmp_path / "sc" / word / f"{spk}_nohash_0.wav"), 0.3)
    write_audio(str(tmp_path / "sc" / "_background_noise_" / "noise.wav"), 1.0)
    (tmp_path / "sc" / "validation_list.txt").write_text("yes/aaaa1111_nohash_0.wav\n")
    (tmp_path / "sc" / "testing_list.txt").write_text(
        "no/bbbb2222_nohash_0.wav\ncat/cccc3333_nohash_0.wav\n")
    with pytest.raises(AlignmentError, match=r"sc/down: word folder not found"):
        commands.prepare_speech_commands(str(tmp_path / "sc"), str(tmp_path / "p"), words=["yes", "down"])
    assert not (tmp_path / "p").exists()
    # One speaker per listed split: refused unless asked for (min_speakers).
    with pytest.raises(ManifestError, match=r"valid split has 1 clip\(s\) of 1 speaker"):
        commands.prepare_speech_commands(str(tmp_path / "sc"), str(tmp_path / "p"))
    out = commands.prepare_speech_commands(str(tmp_path / "sc"), str(tmp_path / "p"),
                                           words=["yes", "no"], min_speakers=1)
    ids = {n: [r["utt_id"] for r in read_segment_manifest(p)] for n, p in out.items()}
    assert ids["valid"] == ["yes_aaaa1111_nohash_0"]
    assert ids["test"] == ["no_bbbb2222_nohash_0"]  # cat is not among the words
    assert len(ids["train"]) == 4
    out = commands.prepare_speech_commands(str(tmp_path / "sc"), str(tmp_path / "p2"),
                                           words=None, min_speakers=1)
    assert len(read_segment_manifest(out["test"])) == 2
    assert {r["word"] for r in read_segment_manifest(out["train"])} == {"yes", "no", "cat"}
    # already prepared -> skipped; a broken list -> error naming file and line
    with caplog.at_level(logging.INFO):
        commands.prepare_speech_commands(str(tmp_path / "sc"), str(tmp_path / "p2"), words=None,
                                         min_speakers=1)
    assert "already prepared" in caplog.text
    (tmp_path / "sc" / "testing_list.txt").write_text("no/bbbb2222_nohash_0.wav\nbroken\n")
    with pytest.raises(ManifestError, match=r"testing_list.txt:2: expected <word>/<file>"):
        commands.prepare_speech_commands(str(tmp_path / "sc"), str(tmp_path / "p3"), words=None,
                                         min_speakers=1)
    assert not (tmp_path / "p3" / "train.csv").exists()
