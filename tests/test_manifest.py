"""Segment manifests, audio checks and the prepare-skip helpers."""

import numpy as np
import pytest
import soundfile

from speechbrain_align.dataio.audio import AudioError, check_segments_audio, load_segment
from speechbrain_align.dataio.manifest import (
    ManifestError,
    Segment,
    group_by_utterance,
    read_segment_manifest,
    write_segment_manifest,
)
from speechbrain_align.utils.files import already_prepared, mark_prepared


def _wav(path, seconds=1.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, (0.1 * np.sin(2 * np.pi * 440 * t)).astype("float32"), rate)
    return str(path)


def test_roundtrip_with_extra_column(tmp_path):
    wav = _wav(tmp_path / "u.wav")
    segs = [
        Segment(wav, 0.10, 0.40, "in", "s1", "u1", 0, extra={"phones": "I n"}),
        Segment(wav, 0.40, 0.55, "the", "s1", "u1", 1, extra={"phones": "D @"}),
    ]
    path = tmp_path / "m.csv"
    write_segment_manifest(segs, path)
    rows = read_segment_manifest(path)
    assert [r["ID"] for r in rows] == ["u1_0000", "u1_0001"]
    assert rows[1]["phones"] == "D @"
    assert rows[0]["duration"] == pytest.approx(0.3)
    assert group_by_utterance(list(reversed(rows)))["u1"][0]["position"] == 0


def test_invalid_segments_leave_no_file(tmp_path):
    path = tmp_path / "m.csv"
    with pytest.raises(ManifestError, match="start=0.5 stop=0.5"):
        write_segment_manifest([Segment("/a.wav", 0.5, 0.5, "x", "s", "u", 0)], path)
    with pytest.raises(ManifestError, match="repeated"):
        write_segment_manifest(
            [Segment("/a.wav", 0, 1, "x", "s", "u", 0, ID="d"), Segment("/a.wav", 1, 2, "y", "s", "u", 1, ID="d")],
            path,
        )
    assert list(tmp_path.iterdir()) == []


def test_reader_names_file_and_line(tmp_path):
    path = tmp_path / "m.csv"
    header = "ID,wav,start,stop,duration,word,spk_id,utt_id,position\n"
    path.write_text(header + "a,/x.wav,0,1,1,w,s,u,0\nb,/x.wav,2,1,-1,w,s,u,1\n")
    with pytest.raises(ManifestError, match=r"m.csv:3: segment 'b'"):
        read_segment_manifest(path)
    path.write_text(header + "a,/x.wav,0,1,1,w,s,u,0\na,/x.wav,1,2,1,w,s,u,1\n")
    with pytest.raises(ManifestError, match=r"m.csv:3: segment id 'a' is repeated"):
        read_segment_manifest(path)
    path.write_text("ID,wav\n")
    with pytest.raises(ManifestError, match=r"m.csv:1: manifest lacks columns"):
        read_segment_manifest(path)


def test_audio_checks(tmp_path, caplog):
    wav = _wav(tmp_path / "u.wav", seconds=1.0)
    good = Segment(wav, 0.2, 0.6, "a", "s", "u", 0)
    outside = Segment(wav, 0.8, 1.5, "b", "s", "u", 1)
    missing = Segment(str(tmp_path / "nope.wav"), 0, 0.5, "c", "s", "v", 0)
    with pytest.raises(AudioError, match="falls outside"):
        check_segments_audio([good, outside], "align.txt")
    with pytest.raises(AudioError, match="nope.wav: audio file not found"):
        check_segments_audio([missing], "align.txt")
    kept = check_segments_audio([good, outside, missing], "align.txt", on_error="skip")
    assert kept == [good]
    assert "skipped 2 of 3" in caplog.text


def test_resampling_warns_once(tmp_path, caplog):
    wav = _wav(tmp_path / "u8k.wav", seconds=1.0, rate=8000)
    a = load_segment(wav, 0.0, 0.5)
    b = load_segment(wav, 0.5, 1.0)
    assert a.shape == b.shape == (8000,)
    assert caplog.text.count("resampling to 16000") <= 1
    with pytest.raises(AudioError):
        load_segment(wav, 0.9, 0.8)


def test_unreadable_audio(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="unreadable audio"):
        check_segments_audio([Segment(str(bad), 0, 0.1, "x", "s", "u", 0)], "m.csv")


def test_prepare_skip_pattern(tmp_path):
    out = tmp_path / "train.csv"
    opts = {"seed": 1, "words": ["a"]}
    assert not already_prepared([out], opts)
    out.write_text("x")
    mark_prepared([out], opts)
    assert already_prepared([out], opts)
    assert not already_prepared([out], {"seed": 2, "words": ["a"]})
    out.unlink()
    assert not already_prepared([out], opts)


def test_atomic_write_refuses_special_files(tmp_path):
    from speechbrain_align.utils.files import atomic_save, atomic_write

    with pytest.raises(IsADirectoryError, match="not a regular file"):
        with atomic_write("/dev/null") as handle:
            handle.write("x")
    with pytest.raises(IsADirectoryError):
        atomic_save(tmp_path, lambda p: None)
    assert not __import__("os").path.isfile("/dev/null")


def test_atomic_files_get_normal_permissions(tmp_path):
    import os

    from speechbrain_align.utils.files import atomic_save, atomic_write

    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.txt") as handle:
            handle.write("x")
        atomic_save(tmp_path / "b.txt", lambda p: open(p, "w").write("y"))
    finally:
        os.umask(old)
    assert oct(os.stat(tmp_path / "a.txt").st_mode & 0o777) == "0o644"
    assert oct(os.stat(tmp_path / "b.txt").st_mode & 0o777) == "0o644"


def test_audio_info_sees_a_rewritten_file(tmp_path):
    import os

    from speechbrain_align.dataio.audio import audio_info

    wav = _wav(tmp_path / "r.wav", seconds=1.0)
    assert audio_info(wav) == (16000, 16000)
    _wav(tmp_path / "r.wav", seconds=2.0)
    os.utime(wav, ns=(1, 10**18))  # make sure the modification time differs
    assert audio_info(wav) == (16000, 32000)


def test_interrupted_rewrite_is_not_taken_for_finished(tmp_path):
    """Options A done, an options-B run dies after one output, then A again must redo."""
    train, valid = tmp_path / "train.csv", tmp_path / "valid.csv"
    train.write_text("A")
    valid.write_text("A")
    mark_prepared([train, valid], {"opt": "A"})
    assert not already_prepared([train, valid], {"opt": "B"})  # B starts redoing...
    train.write_text("B")  # ...and is interrupted here
    assert not already_prepared([train, valid], {"opt": "A"})
