"""Readers of real word-boundary sources -> segment manifests (dataio/alignments/, textgrid.py)."""

import codecs
import collections
import logging
import os

import numpy as np
import pytest
import soundfile

from speechbrain_align.dataio import audio as audio_mod
from speechbrain_align.dataio.alignments import (
    AlignmentError,
    normalize_word,
    read_ctm,
    read_isolated_words,
    read_kaldi_map,
    read_librispeech_alignment,
    read_librispeech_alignments,
    read_textgrid,
    read_textgrids,
    read_timit,
    read_timit_wrd,
    split_speakers_by_hash,
)
from speechbrain_align.dataio.audio import AudioError
from speechbrain_align.dataio.manifest import (
    ManifestError,
    Segment,
    read_segment_manifest,
    write_segment_manifest,
)
from speechbrain_align.dataio.textgrid import (
    TextGridError,
    format_textgrid,
    parse_textgrid_text,
    read_textgrid_tiers,
)


def write_audio(path, seconds, rate=16000, fmt=None):
    """A short noise file (FLAC/WAV by extension, or ``fmt``)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(0)
    data = (0.1 * rng.standard_normal(int(round(seconds * rate)))).astype("float32")
    soundfile.write(path, data, rate, format=fmt, subtype="PCM_16")
    return path


@pytest.fixture
def fresh_rate_warnings(monkeypatch):
    """Forget which sample rates audio.py has already warned about."""
    monkeypatch.setattr(audio_mod, "_warned_rates", set())
    audio_mod.audio_info.cache_clear()
    yield
    audio_mod.audio_info.cache_clear()


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


# ---------------------------------------------------------------- misc


def test_normalize_word_and_hash_split():
    assert normalize_word("SIL") == "" and normalize_word("Ça") == "ça"
    split = split_speakers_by_hash([f"spk{i}" for i in range(1000)], 0.1, 0.1)
    counts = collections.Counter(split.values())
    assert 60 < counts["valid"] < 140 and 60 < counts["test"] < 140
    # adding speakers never moves an existing one
    more = split_speakers_by_hash([f"spk{i}" for i in range(1500)], 0.1, 0.1)
    assert all(more[k] == v for k, v in split.items())


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
