"""TextGrid readers (short/long formats, MFA tiers, folders) -> segment manifests."""

import codecs
import logging

import pytest

from alignment_helpers import write_audio

from speechbrain_align.dataio.alignments import (
    AlignmentError,
    read_textgrid,
    read_textgrids,
)
from speechbrain_align.dataio.audio import AudioError
from speechbrain_align.dataio.manifest import ManifestError
from speechbrain_align.dataio.textgrid import (
    TextGridError,
    format_textgrid,
    parse_textgrid_text,
    read_textgrid_tiers,
)


# ---------------------------------------------------------------- TextGrid

SHORT_TEXTGRID = '''File type = "ooTextFile"
Object class = "TextGrid"

0
1.5
<exists>
2
"IntervalTier"
"words"
0
1.5
5
0
0.3
""
0.3
0.7
"Hello"
0.7
0.8
"sp"
0.8
1.2
"World"
1.2
1.5
"<eps>"
"IntervalTier"
"phones"
0
1.5
1
0
1.5
"HH"
'''


def test_textgrid_short_and_long_formats_agree(tmp_path):
    short = parse_textgrid_text(SHORT_TEXTGRID, "short")
    long_text = format_textgrid(
        {
            "words": [(0, 0.3, ""), (0.3, 0.7, "Hello"), (0.7, 0.8, "sp"),
                      (0.8, 1.2, "World"), (1.2, 1.5, "<eps>")],
            "phones": [(0, 1.5, "HH")],
        }
    )
    longg = parse_textgrid_text(long_text, "long")
    assert [t.name for t in short] == [t.name for t in longg] == ["words", "phones"]
    for a, b in zip(short, longg):
        assert [(i.xmin, i.xmax, i.text) for i in a.items] == [
            (i.xmin, i.xmax, i.text) for i in b.items
        ]
    # lines are remembered: the "Hello" interval starts on line 16 (short)
    assert short[0].items[1].line == 16


def test_read_textgrid_drops_silence_and_counts_positions(tmp_path):
    wav = write_audio(str(tmp_path / "spk1" / "utt1.wav"), 1.5)
    grid = tmp_path / "spk1" / "utt1.TextGrid"
    grid.write_text(SHORT_TEXTGRID)
    segs = read_textgrid(str(grid), wav, "spk1")
    assert [(s.word, s.position, s.start, s.stop) for s in segs] == [
        ("hello", 0, 0.3, 0.7), ("world", 1, 0.8, 1.2)]
    assert segs[1].ID == "utt1_0001"


def test_textgrid_mfa_speaker_tier_names_quotes_and_utf16(tmp_path):
    text = format_textgrid(
        {"anna - words": [(0, 0.4, 'he said ""hi""'), (0.4, 0.9, "Café")],
         "anna - phones": [(0, 0.9, "a")]}
    )
    grid = tmp_path / "anna" / "u.TextGrid"
    grid.parent.mkdir()
    grid.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    wav = write_audio(str(tmp_path / "anna" / "u.flac"), 1.0)
    segs = read_textgrid(str(grid), wav, "anna")
    assert [s.word for s in segs] == ['he said ""hi""'.lower(), "café"]


def test_textgrid_errors_name_file_and_line(tmp_path):
    grid = tmp_path / "bad.TextGrid"
    grid.write_text(SHORT_TEXTGRID.replace("0.7\n0.8\n", "0.7\nabc\n", 1))
    with pytest.raises(TextGridError, match=rf"{grid}:2[0-9]: expected interval xmax"):
        read_textgrid_tiers(str(grid))
    # interval that ends before it starts
    grid.write_text(SHORT_TEXTGRID.replace("0.8\n1.2\n", "0.8\n0.75\n", 1))
    wav = write_audio(str(tmp_path / "bad.wav"), 1.5)
    with pytest.raises(AlignmentError, match=rf"{grid}:22: word 'World'"):
        read_textgrid(str(grid), wav, "s")
    grid.write_text(SHORT_TEXTGRID.replace('"words"', '"tokens"'))
    with pytest.raises(AlignmentError, match="exactly one tier named 'words'"):
        read_textgrid(str(grid), wav, "s")
    grid.write_text(SHORT_TEXTGRID[:-60])  # truncated
    with pytest.raises(TextGridError, match="file ends early|unterminated"):
        read_textgrid_tiers(str(grid))
    grid.write_bytes(b"")
    with pytest.raises(ManifestError, match=":1: alignment file is empty"):
        read_textgrid(str(grid), wav, "s")


def test_textgrid_words_outside_audio(tmp_path):
    grid = tmp_path / "u.TextGrid"
    grid.write_text(SHORT_TEXTGRID)
    wav = write_audio(str(tmp_path / "u.wav"), 1.0)
    with pytest.raises(AudioError, match=rf"{grid}:22: word 'world' .* falls outside"):
        read_textgrid(str(grid), wav, "s")
    assert read_textgrid(str(grid), wav, "s", on_error="skip") == []


def test_read_textgrids_folder_with_mirrored_audio(tmp_path, caplog):
    align, corpus = tmp_path / "aligned", tmp_path / "corpus"
    for spk in ("a", "b"):
        (align / spk).mkdir(parents=True)
        (align / spk / f"{spk}1.TextGrid").write_text(SHORT_TEXTGRID)
        write_audio(str(corpus / spk / f"{spk}1.flac"), 1.5)
    segs = read_textgrids(str(align), audio_root=str(corpus))
    assert [(s.spk_id, s.utt_id, s.word) for s in segs] == [
        ("a", "a1", "hello"), ("a", "a1", "world"), ("b", "b1", "hello"), ("b", "b1", "world")]
    assert segs[2].wav == str(corpus / "b" / "b1.flac")
    (align / "b" / "b1.TextGrid").write_bytes(b"File type \xff")
    with caplog.at_level(logging.WARNING):
        segs = read_textgrids(str(align), audio_root=str(corpus), on_error="skip")
    assert {s.utt_id for s in segs} == {"a1"}
    assert "skipped 1 of 2 TextGrid files" in caplog.text


def test_read_textgrids_lookup_errors_name_the_file(tmp_path):
    (tmp_path / "x").mkdir()
    grid = tmp_path / "x" / "not-libri.TextGrid"
    grid.write_text(SHORT_TEXTGRID)

    def wav_for(utt_id, path):
        raise KeyError(f"no audio for {utt_id}")

    with pytest.raises(AlignmentError, match=rf"{grid}:1: .*no audio for not-libri"):
        read_textgrids(str(tmp_path), wav_for=wav_for)
    assert read_textgrids(str(tmp_path), wav_for=wav_for, on_error="skip") == []
    with pytest.raises(AlignmentError, match="no \\*.TextGrid files found"):
        read_textgrids(str(tmp_path / "x" / "empty_dir_that_is_missing"))
