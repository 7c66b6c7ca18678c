"""Readers of real word-boundary sources -> segment manifests: LibriSpeech alignments, shared helpers.

TextGrid readers are tested in test_alignments_textgrid.py, CTM, TIMIT and
isolated words in test_alignments_corpora.py.
"""

import collections
import logging
import os

import pytest

from alignment_helpers import fresh_rate_warnings, write_audio  # noqa: F401 (fresh_rate_warnings is a fixture)

from speechbrain_align.dataio import audio as audio_mod
from speechbrain_align.dataio.alignments import (
    AlignmentError,
    normalize_word,
    read_librispeech_alignment,
    read_librispeech_alignments,
    split_speakers_by_hash,
)
from speechbrain_align.dataio.audio import AudioError
from speechbrain_align.dataio.manifest import (
    ManifestError,
    Segment,
    read_segment_manifest,
    write_segment_manifest,
)


# ---------------------------------------------------------------- LibriSpeech

LIBRI_LINES = [
    '84-121123-0000 ",GO,,DO,YOU,HEAR," "0.490,0.890,1.270,1.380,1.490,1.890,2.100"',
    '84-121123-0001 ",DON\'T,PANIC" "0.200,0.600,1.100"',
]


@pytest.fixture
def libri_tree(tmp_path):
    """dev-clean/84/121123 with two FLAC files and an alignment file."""
    chapter = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123"
    write_audio(str(chapter / "84-121123-0000.flac"), 2.2)
    write_audio(str(chapter / "84-121123-0001.flac"), 1.2)
    align = chapter / "84-121123.alignment.txt"
    align.write_text("\n".join(LIBRI_LINES) + "\n", encoding="utf-8")
    return tmp_path / "LibriSpeech" / "dev-clean", align


def test_librispeech_alignment_reads_words_times_and_positions(libri_tree):
    root, align = libri_tree
    segs = read_librispeech_alignment(str(align))
    assert [s.word for s in segs] == ["go", "do", "you", "hear", "don't", "panic"]
    assert [s.position for s in segs] == [0, 1, 2, 3, 0, 1]
    assert segs[0].ID == "84-121123-0000_0000" and segs[3].ID == "84-121123-0000_0003"
    # start of a word = end of the previous token (silence included)
    assert (segs[0].start, segs[0].stop) == (0.49, 0.89)
    assert (segs[1].start, segs[1].stop) == (1.27, 1.38)
    assert (segs[4].start, segs[4].stop) == (0.2, 0.6)
    assert {s.spk_id for s in segs} == {"84"}
    assert segs[0].wav == str(root / "84" / "121123" / "84-121123-0000.flac")


def test_librispeech_alignment_with_separate_audio_root(libri_tree, tmp_path):
    root, align = libri_tree
    other = tmp_path / "align_copy"
    other.mkdir()
    (other / align.name).write_text(align.read_text())
    segs = read_librispeech_alignments(str(other), audio_root=str(root))
    assert len(segs) == 6
    assert segs[-1].wav == str(root / "84" / "121123" / "84-121123-0001.flac")


def test_librispeech_count_mismatch_names_file_and_line(libri_tree, caplog):
    root, align = libri_tree
    lines = LIBRI_LINES + ['84-121123-0002 ",YES,NO" "0.1,0.5"']
    align.write_text("\n".join(lines) + "\n")
    with pytest.raises(AlignmentError, match=rf"{align}:3: 3 words but 2 times"):
        read_librispeech_alignment(str(align))
    with caplog.at_level(logging.WARNING):
        segs = read_librispeech_alignment(str(align), on_error="skip")
    assert len(segs) == 6
    assert "skipped 1 of 3 utterances" in caplog.text


def test_librispeech_missing_audio_names_file(libri_tree, caplog):
    root, align = libri_tree
    os.remove(root / "84" / "121123" / "84-121123-0001.flac")
    audio_mod.audio_info.cache_clear()
    with pytest.raises(AudioError, match=r"alignment.txt:2: .*84-121123-0001.flac: audio file not found"):
        read_librispeech_alignment(str(align))
    with caplog.at_level(logging.WARNING):
        segs = read_librispeech_alignment(str(align), on_error="skip")
    assert {s.utt_id for s in segs} == {"84-121123-0000"}
    assert "skipped 1 of 2 utterances" in caplog.text
    # without the audio check the segments are still produced
    assert len(read_librispeech_alignment(str(align), check_audio=False)) == 6


def test_librispeech_unreadable_audio(libri_tree):
    root, align = libri_tree
    (root / "84" / "121123" / "84-121123-0000.flac").write_bytes(b"not audio at all")
    audio_mod.audio_info.cache_clear()
    with pytest.raises(AudioError, match=r"alignment.txt:1: .*0000.flac: unreadable audio"):
        read_librispeech_alignment(str(align))


def test_librispeech_times_beyond_audio_and_not_increasing(libri_tree):
    root, align = libri_tree
    align.write_text(LIBRI_LINES[0] + "\n" + '84-121123-0001 ",DON\'T,PANIC" "0.200,0.600,1.900"\n')
    with pytest.raises(AudioError, match=r"alignment.txt:2: word 'panic' \[0.6000, 1.9000\] s falls outside"):
        read_librispeech_alignment(str(align))
    # zero-length silence is fine, a zero-length or backwards word is not
    align.write_text('84-121123-0001 ",DON\'T,,PANIC" "0.200,0.600,0.600,1.100"\n')
    assert [s.word for s in read_librispeech_alignment(str(align))] == ["don't", "panic"]
    align.write_text('84-121123-0001 ",DON\'T,,PANIC" "0.200,0.600,0.500,1.100"\n')
    with pytest.raises(AlignmentError, match=r"alignment.txt:1: word '' has start=0.6000 stop=0.5000"):
        read_librispeech_alignment(str(align))
    align.write_text('84-121123-0001 ",DON\'T,PANIC" "0.200,0.600,0.600"\n')
    with pytest.raises(AlignmentError, match=r"alignment.txt:1: word 'PANIC' has start=0.6000 stop=0.6000"):
        read_librispeech_alignment(str(align))


def test_librispeech_empty_and_non_utf8(libri_tree):
    root, align = libri_tree
    align.write_text("\n  \n")
    with pytest.raises(ManifestError, match=rf"{align}:1: alignment file is empty"):
        read_librispeech_alignment(str(align))
    align.write_bytes(LIBRI_LINES[0].encode() + b"\n84-121123-0001 \",CAF\xe9\" \"0.1,0.5\"\n")
    with pytest.raises(ManifestError, match=rf"{align}:2: not valid UTF-8"):
        read_librispeech_alignment(str(align))
    align.write_text("84-121123-0001 GO 0.5\n")
    with pytest.raises(AlignmentError, match=rf"{align}:1: expected"):
        read_librispeech_alignment(str(align))


def test_non_16k_audio_triggers_the_resampling_warning(libri_tree, fresh_rate_warnings, caplog):
    root, align = libri_tree
    write_audio(str(root / "84" / "121123" / "84-121123-0001.flac"), 1.2, rate=11025)
    with caplog.at_level(logging.WARNING, logger="speechbrain_align.dataio.audio"):
        segs = read_librispeech_alignment(str(align))
    assert len(segs) == 6
    assert "11025 Hz, resampling to 16000 Hz" in caplog.text


def test_failed_manifest_write_leaves_no_file(libri_tree, tmp_path):
    root, align = libri_tree
    segs = read_librispeech_alignment(str(align))
    out = tmp_path / "out" / "seg.csv"
    bad = segs + [Segment(segs[0].wav, 0.5, 0.4, "x", "84", "u", 0)]
    with pytest.raises(ManifestError):
        write_segment_manifest(bad, out)
    dup = segs + [segs[0]]
    with pytest.raises(ManifestError, match="repeated"):
        write_segment_manifest(dup, out)
    assert not out.exists()
    leftovers = list(out.parent.iterdir()) if out.parent.exists() else []
    assert leftovers == []  # no temporary file either
    assert write_segment_manifest(segs, out) == 6
    rows = read_segment_manifest(out)
    assert [r["word"] for r in rows] == [s.word for s in segs]


# ---------------------------------------------------------------- misc


def test_normalize_word_and_hash_split():
    assert normalize_word("SIL") == "" and normalize_word("Ça") == "ça"
    split = split_speakers_by_hash([f"spk{i}" for i in range(1000)], 0.1, 0.1)
    counts = collections.Counter(split.values())
    assert 60 < counts["valid"] < 140 and 60 < counts["test"] < 140
    # adding speakers never moves an existing one
    more = split_speakers_by_hash([f"spk{i}" for i in range(1500)], 0.1, 0.1)
    assert all(more[k] == v for k, v in split.items())
