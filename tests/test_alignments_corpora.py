"""Kaldi CTM, TIMIT and isolated-word folders -> segment manifests."""

import collections
import logging
import os

import numpy as np
import pytest
import soundfile

from alignment_helpers import fresh_rate_warnings, write_audio  # noqa: F401 (fresh_rate_warnings is a fixture)

from speechbrain_align.dataio import audio as audio_mod
from speechbrain_align.dataio.alignments import (
    AlignmentError,
    read_ctm,
    read_isolated_words,
    read_kaldi_map,
    read_timit,
    read_timit_wrd,
)
from speechbrain_align.dataio.audio import AudioError


# ---------------------------------------------------------------- CTM


@pytest.fixture
def ctm_setup(tmp_path):
    wav_a = write_audio(str(tmp_path / "a.wav"), 2.0)
    wav_b = write_audio(str(tmp_path / "b.flac"), 1.0)
    scp = tmp_path / "wav.scp"
    scp.write_text(f"spk1-u1 {wav_a}\nspk2-u2 {wav_b}\n")
    ctm = tmp_path / "words.ctm"
    ctm.write_text(
        "spk1-u1 1 0.50 0.30 WORLD 0.98\n"
        "spk2-u2 1 0.10 0.20 yes\n"
        "spk1-u1 1 0.10 0.30 Hello\n"
        "spk1-u1 1 0.40 0.10 <eps>\n"
    )
    return tmp_path, ctm, scp, wav_a, wav_b


def test_ctm_with_wav_scp(ctm_setup):
    tmp_path, ctm, scp, wav_a, wav_b = ctm_setup
    segs = read_ctm(str(ctm), str(scp))
    assert [(s.utt_id, s.position, s.word, s.spk_id) for s in segs] == [
        ("spk1-u1", 0, "hello", "spk1"), ("spk1-u1", 1, "world", "spk1"),
        ("spk2-u2", 0, "yes", "spk2")]
    assert segs[1].start == 0.5 and segs[1].stop == pytest.approx(0.8)
    assert segs[2].wav == wav_b
    # a callable and an utt2spk table work too
    segs2 = read_ctm(str(ctm), lambda u: wav_a if u == "spk1-u1" else wav_b,
                     spk_map={"spk1-u1": "A", "spk2-u2": "B"})
    assert [s.spk_id for s in segs2] == ["A", "A", "B"]


def test_ctm_errors(ctm_setup, caplog):
    tmp_path, ctm, scp, wav_a, wav_b = ctm_setup
    scp.write_text(f"spk1-u1 {wav_a}\n")
    with pytest.raises(AlignmentError, match=rf"{ctm}:2: no audio for utterance 'spk2-u2'"):
        read_ctm(str(ctm), str(scp))
    with caplog.at_level(logging.WARNING):
        segs = read_ctm(str(ctm), str(scp), on_error="skip")
    assert {s.utt_id for s in segs} == {"spk1-u1"}
    assert "skipped 1 of 2 utterances" in caplog.text
    ctm.write_text("spk1-u1 1 0.1 0.3\n")
    with pytest.raises(AlignmentError, match=rf"{ctm}:1: expected 5 or 6 fields"):
        read_ctm(str(ctm), str(scp))
    ctm.write_text("spk1-u1 1 0.1 0.3 a\nspk1-u1 1 1.9 0.3 b\n")
    with pytest.raises(AudioError, match=rf"{ctm}:2: word 'b'"):
        read_ctm(str(ctm), str(scp))
    ctm.write_text("spk1-u1 1 0.1 -0.3 a\n")
    with pytest.raises(AlignmentError, match=rf"{ctm}:1: word 'a' has start"):
        read_ctm(str(ctm), str(scp))
    scp.write_text("spk1-u1 sox a.wav -t wav - |\n")
    with pytest.raises(AlignmentError, match=rf"{scp}:1: piped commands"):
        read_kaldi_map(str(scp))


# ---------------------------------------------------------------- TIMIT


def test_timit_sample_counts_match_the_wrd_files(timit_sample):
    wrd_files = sorted(timit_sample.glob("*/*.wrd"))
    assert len(wrd_files) == 160
    lines = {}
    for path in wrd_files:
        spk = path.parent.name.split("-")[1]
        lines[f"{spk}_{path.stem}"] = [l.split() for l in path.read_text().splitlines() if l.strip()]
    assert sum(len(v) for v in lines.values()) == 1394
    segs = read_timit(str(timit_sample))
    # every .wrd line is a word (TIMIT has no silence labels in .wrd): all kept
    assert len(segs) == 1394
    by_utt = collections.defaultdict(list)
    for s in segs:
        by_utt[s.utt_id].append(s)
    assert len(by_utt) == 160 and len({s.spk_id for s in segs}) == 16
    for utt_id, utt_segs in by_utt.items():
        ref = lines[utt_id]
        assert [s.word for s in utt_segs] == [r[2].lower() for r in ref]
        assert [round(s.start * 16000) for s in utt_segs] == [int(r[0]) for r in ref]
        assert [round(s.stop * 16000) for s in utt_segs] == [int(r[1]) for r in ref]
        assert [s.position for s in utt_segs] == list(range(len(ref)))
    # neighbouring words that share a boundary phone overlap; they are kept as given
    overlaps = sum(
        1 for u in by_utt.values() for a, b in zip(u, u[1:]) if b.start < a.stop
    )
    assert overlaps == 21
    first = by_utt["fvmh0_sa1"][0]
    assert (first.word, first.start, first.spk_id) == ("she", 7812 / 16000, "fvmh0")


def test_timit_full_layout_and_errors(tmp_path):
    spk_dir = tmp_path / "TIMIT" / "TRAIN" / "DR1" / "FABC0"
    write_audio(str(spk_dir / "SA1.WAV"), 1.0, fmt="NIST")  # TIMIT audio is NIST SPHERE
    (spk_dir / "SA1.WRD").write_text("1600 4800 she\n4800 9600 had\n")
    segs = read_timit(str(tmp_path / "TIMIT"))
    assert [(s.ID, s.spk_id, s.start, s.stop) for s in segs] == [
        ("fabc0_sa1_0000", "fabc0", 0.1, 0.3), ("fabc0_sa1_0001", "fabc0", 0.3, 0.6)]
    assert segs[0].wav.endswith("SA1.WAV")
    (spk_dir / "SA1.WRD").write_text("1600 4800 she\n4800 19600 had\n")
    with pytest.raises(AudioError, match=r"SA1.WRD:2: word 'had'"):
        read_timit_wrd(str(spk_dir / "SA1.WRD"))
    (spk_dir / "SA1.WRD").write_text("1600 4800 she\n4800 had\n")
    with pytest.raises(AlignmentError, match=r"SA1.WRD:2: expected"):
        read_timit(str(tmp_path / "TIMIT"))
    (spk_dir / "SA1.WRD").write_text("1600 4800 she\n4800 4800 had\n")
    with pytest.raises(AlignmentError, match=r"SA1.WRD:2: word 'had' has start"):
        read_timit(str(tmp_path / "TIMIT"))


# ---------------------------------------------------------------- isolated words


def test_speech_commands_real_folder(speech_commands):
    files = sorted(speech_commands.glob("*/*.flac"))
    speakers = {f.name.split("_nohash_")[0] for f in files}
    segs = read_isolated_words(str(speech_commands))
    assert len(segs) == len(files) == 3276
    assert {s.word for s in segs} == {"down", "go", "left", "no", "right", "stop", "up", "yes"}
    assert {s.spk_id for s in segs} == speakers
    # NOTE: the data README says 165 speakers; the file names hold 236 distinct hashes.
    assert len(speakers) == 236
    s = segs[0]
    assert s.start == 0.0 and s.stop == pytest.approx(1.0) and s.position == 0
    assert s.utt_id == f"{s.word}_{os.path.basename(s.wav)[:-5]}" and s.ID == s.utt_id + "_0000"
    assert len({s.ID for s in segs}) == 3276


def test_isolated_words_synthetic(tmp_path, fresh_rate_warnings, caplog):
    write_audio(str(tmp_path / "yes" / "aa11_nohash_0.wav"), 0.8)
    write_audio(str(tmp_path / "yes" / "bb22_nohash_1.flac"), 1.0, rate=8000)
    write_audio(str(tmp_path / "no" / "aa11_nohash_0.wav"), 0.5)
    write_audio(str(tmp_path / "_background_noise_" / "white.wav"), 2.0)
    (tmp_path / "no" / "README.txt").write_text("not audio")
    with caplog.at_level(logging.WARNING):
        segs = read_isolated_words(str(tmp_path))
    assert [(s.word, s.spk_id, s.stop) for s in segs] == [
        ("no", "aa11", 0.5), ("yes", "aa11", 0.8), ("yes", "bb22", 1.0)]
    assert "8000 Hz, resampling" in caplog.text
    with pytest.raises(AlignmentError, match="left: word folder not found"):
        read_isolated_words(str(tmp_path), words=["yes", "left"])
    soundfile.write(str(tmp_path / "no" / "cc33_nohash_0.wav"), np.zeros(0, "float32"), 16000)
    audio_mod.audio_info.cache_clear()
    with pytest.raises(AudioError, match="cc33_nohash_0.wav: audio is empty"):
        read_isolated_words(str(tmp_path), words=["no"])
    (tmp_path / "no" / "dd44_nohash_0.wav").write_bytes(b"RIFFjunk")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        segs = read_isolated_words(str(tmp_path), words=["no"], on_error="skip")
    assert [s.spk_id for s in segs] == ["aa11"]
    assert "skipped 2 of 3 audio files" in caplog.text
