"""Tests for the espeak-ng synthetic corpus builder (tiny texts, few speakers)."""

import json
import os

import numpy as np
import pytest
import soundfile

from speechbrain_align.dataio import synthetic as S
from speechbrain_align.dataio.manifest import group_by_utterance, read_segment_manifest
from speechbrain_align.dataio.tokenize import tokenize

PASSAGES = [
    ("ch1", "The light shines in the darkness. The darkness did not overcome it."),
    ("ch2", "A man went down to the sea. He saw many fish, and he was glad!"),
    ("ch3", "Seven loaves were broken. Everyone ate and was filled."),
    ("ch4", [("v1", "In the beginning was the word."), ("v2", "All things were made.")]),
    ("ch5", "The wind blows where it wants to. You hear its sound."),
    ("ch6", "Rivers run to the sea, yet the sea is not full."),
]


@pytest.fixture(scope="module")
def engine():
    eng = S.get_engine()
    eng.set_voice("en-us+m3", rate=170)
    return eng


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def test_word_events_match_tokens(engine):
    tokens = tokenize("God saw light, and it was good")
    audio, events = engine.synth(" ".join(tokens))
    assert engine.sample_rate == 22050 and audio.dtype == np.int16 and len(audio) > 22050
    assert sum(1 for e in events if e[0] == "word") == len(tokens)
    assert any(e[0] == "phone" and e[3].startswith("_") for e in events)  # pauses come


def test_boundaries_are_exact(engine):
    tokens = tokenize("He saw the heavens and the earth, and he called the light day.")
    signal, bounds = S.synthesize_utterance(engine, tokens)
    assert signal.dtype == np.float32 and len(bounds) == len(tokens)
    word_rms, gap_rms, gaps = [], [], 0
    for k, (start, stop, phones) in enumerate(bounds):
        assert 0 <= start < stop <= len(signal), (tokens[k], start, stop)
        assert phones and all(not p.startswith("_") for p in phones)
        word_rms.append(_rms(signal[start:stop]))
        if k + 1 < len(bounds):
            nxt = bounds[k + 1][0]
            assert stop <= nxt
            if nxt - stop > 320:  # a pause of > 20 ms between words
                gaps += 1
                gap_rms.append(_rms(signal[stop + 40:nxt - 40]))
    # Silence after the last word, and in every pause, is far below speech.
    gap_rms.append(_rms(signal[bounds[-1][1] + 40:]))
    assert min(word_rms) > 0.02
    assert max(gap_rms) < 0.1 * min(word_rms)
    assert gaps >= 1  # espeak-ng pauses inside this sentence: ends are not next starts


def test_merged_dictionary_entries_are_split(engine):
    # espeak-ng speaks "in the" as one dictionary entry with a single WORD event.
    tokens = ["in", "the", "beginning"]
    audio, events = engine.synth(" ".join(tokens))
    assert sum(1 for e in events if e[0] == "word") == 2
    _, bounds = S.synthesize_utterance(engine, tokens)
    assert [len(b[2]) for b in bounds][:2] == [2, 2]
    assert bounds[0][1] == bounds[1][0] and bounds[1][1] <= bounds[2][0]


def test_word_alone_has_similar_duration(engine):
    tokens = tokenize("the people gathered near the mountain at evening")
    _, bounds = S.synthesize_utterance(engine, tokens)
    for word in ("gathered", "mountain"):
        k = tokens.index(word)
        in_context = bounds[k][1] - bounds[k][0]
        _, alone = S.synthesize_utterance(engine, [word])
        ratio = (alone[0][1] - alone[0][0]) / in_context
        assert 0.6 < ratio < 1.8, (word, ratio)


def test_spanish_voice(engine):
    engine.set_voice("es+f2")
    tokens = tokenize("¿Dónde está el niño? Aquí, en la casa.")
    _, bounds = S.synthesize_utterance(engine, tokens)
    assert len(bounds) == len(tokens) == 8
    assert bounds[0][2][0] == "d"
    engine.set_voice("en-us+m3", rate=170)


def test_speakers_and_splits():
    spk = S.make_speakers(24, seed=7)
    assert len({(s["voice"], s["rate"], s["pitch"]) for s in spk}) == 24
    assert len({s["voice"].split("+")[0] for s in spk}) == len(S.ACCENTS["en"])
    assert S.make_speakers(24, seed=7) == spk != S.make_speakers(24, seed=8)
    parts = S.split_speakers(spk, seed=7)
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [16, 4, 4]
    assert len(set(sum(parts.values(), []))) == 24
    with pytest.raises(S.CorpusError, match="n_speakers"):
        S.make_speakers(500)
    with pytest.raises(S.CorpusError, match="add up"):
        S.split_speakers(spk, (("train", 3), ("test", 3)))
    assert len(S.make_speakers(20, lang="es")) == 20


def test_split_utterances_limits():
    text = " ".join(f"word{c} " * 7 + "end." for c in "abcdefgh")
    utts = S.split_utterances(text, max_tokens=20, min_tokens=5)
    assert sum(len(tokenize(u)) for u in utts) == len(tokenize(text))
    assert all(5 <= len(tokenize(u)) <= 20 for u in utts)


def _build(tmp_path, name, workers, seed=3):
    out = tmp_path / name
    stats = S.build_corpus(PASSAGES, out, n_speakers=4,
                           splits=(("train", 2), ("valid", 1), ("test", 1)),
                           seed=seed, num_workers=workers, max_tokens=12, progress=False)
    return out, stats


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("corpus"), "one", 1)


def test_build_corpus_outputs(corpus):
    out, stats = corpus
    assert stats["speakers"] == 4 and stats["dropped_utterances"] == 0
    expected_tokens = sum(
        len(tokenize(t if isinstance(t, str) else " ".join(v for _, v in t)))
        for _, t in PASSAGES
    )
    assert stats["tokens"] == expected_tokens
    assert json.load(open(out / "corpus_stats.json")) == stats
    spk_by_split, passages_by_spk = {}, {}
    for split in ("train", "valid", "test"):
        rows = read_segment_manifest(out / f"{split}.csv")
        assert rows and all(r["phones"] for r in rows)
        assert stats["splits"][split]["tokens"] == len(rows)
        spk_by_split[split] = {r["spk_id"] for r in rows}
        for utt, utt_rows in group_by_utterance(rows).items():
            info = soundfile.info(utt_rows[0]["wav"])
            assert info.samplerate == 16000 and info.format == "FLAC"
            assert utt_rows[0]["wav"].endswith(
                os.path.join("audio", utt_rows[0]["spk_id"], utt + ".flac"))
            assert [r["position"] for r in utt_rows] == list(range(len(utt_rows)))
            assert all(a["stop"] <= b["start"] + 1e-4 for a, b in zip(utt_rows, utt_rows[1:]))
            assert utt_rows[-1]["stop"] <= info.frames / 16000 + 1e-4
            passage = utt.split("_")[1]
            passages_by_spk.setdefault(utt_rows[0]["spk_id"], set()).add(passage)
    splits = list(spk_by_split.values())
    assert all(not (a & b) for i, a in enumerate(splits) for b in splits[i + 1:])
    # Each speaker reads a contiguous run of passages, and every passage is read once.
    order = [pid for pid, _ in PASSAGES]
    read = sorted(p for ps in passages_by_spk.values() for p in ps)
    assert read == sorted(order)
    for ps in passages_by_spk.values():
        idx = sorted(order.index(p) for p in ps)
        assert idx == list(range(idx[0], idx[-1] + 1))


def test_transcripts_match_text(corpus):
    out, _ = corpus
    rows = []
    for split in ("train", "valid", "test"):
        rows += read_segment_manifest(out / f"{split}.csv")
    spoken = {}
    for utt, utt_rows in group_by_utterance(rows).items():
        spoken.setdefault(utt.split("_")[1], []).append(
            (utt, [r["word"] for r in utt_rows]))
    for pid, text in PASSAGES:
        flat = text if isinstance(text, str) else " ".join(v for _, v in text)
        words = [w for _, ws in sorted(spoken[pid]) for w in ws]
        assert words == tokenize(flat)


def test_deterministic_and_skip_if_done(tmp_path, corpus):
    out1, stats1 = corpus
    out2, stats2 = _build(tmp_path, "two", 2)
    for split in ("train", "valid", "test"):
        r1 = read_segment_manifest(out1 / f"{split}.csv")
        r2 = read_segment_manifest(out2 / f"{split}.csv")
        assert [(r["ID"], r["start"], r["stop"], r["word"], r["phones"]) for r in r1] == \
               [(r["ID"], r["start"], r["stop"], r["word"], r["phones"]) for r in r2]
        a1, _ = soundfile.read(r1[0]["wav"])
        a2, _ = soundfile.read(r2[0]["wav"])
        assert np.array_equal(a1, a2)
    drop = ("build_seconds",)
    assert {k: v for k, v in stats1.items() if k not in drop} == \
           {k: v for k, v in stats2.items() if k not in drop}
    # Same options: nothing is redone.
    mtime = os.path.getmtime(out2 / "train.csv")
    assert _build(tmp_path, "two", 2)[1] == stats2
    assert os.path.getmtime(out2 / "train.csv") == mtime
    # Another seed: rebuilt with other speakers.
    stats3 = _build(tmp_path, "two", 1, seed=4)[1]
    assert stats3["speaker_table"] != stats2["speaker_table"]


def test_read_passages_and_errors(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("One line here.\nAnother line, 12 here.\n\u00a0\n", encoding="utf-8")
    assert S.read_passages(good) == [("p00000", "One line here."),
                                     ("p00001", "Another line, 12 here.")]
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n 123 \n", encoding="utf-8")
    with pytest.raises(S.CorpusError, match=r"empty\.txt:1: no words"):
        S.read_passages(empty)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("fine line\nni\u00f1o\n".encode("latin-1"))
    with pytest.raises(S.CorpusError, match=r"latin1\.txt:2: not valid UTF-8"):
        S.read_passages(bad)
    with pytest.raises(S.CorpusError, match="missing.txt"):
        S.read_passages(tmp_path / "missing.txt")
    with pytest.raises(S.CorpusError, match="repeated"):
        S.build_corpus([("a", "x y"), ("a", "z")], tmp_path / "o", n_speakers=3)
    with pytest.raises(S.CorpusError, match="passages cannot be shared"):
        S.build_corpus([("a", "x y")], tmp_path / "o", n_speakers=3, progress=False)


def test_cli(tmp_path, capsys):
    text = tmp_path / "story.txt"
    text.write_text("The cat sat.\n\nThe dog ran far away.\n\nBirds sang at dawn.\n",
                    encoding="utf-8")
    out = tmp_path / "cli"
    S.main(["--text", str(text), "--out", str(out), "--speakers", "3", "--workers", "1"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["tokens"] == 12 and printed["speakers"] == 3
    assert (out / "test.csv").exists() and (out / "corpus_stats.json").exists()
    with pytest.raises(SystemExit):
        S.main(["--text", str(tmp_path / "nope.txt"), "--out", str(out)])


def test_console_entry_point_and_module_run(tmp_path):
    """setup.py's sb-align-build-corpus names an importable main, and
    ``python -m speechbrain_align.dataio.synthetic`` runs the same CLI."""
    import importlib
    import re
    import subprocess
    import sys

    setup = open(os.path.join(os.path.dirname(__file__), "..", "setup.py"), encoding="utf-8").read()
    target = re.search(r'"sb-align-build-corpus=([\w.]+):(\w+)"', setup)
    assert target, "console entry point missing from setup.py"
    main = getattr(importlib.import_module(target.group(1)), target.group(2))
    assert main is S.main
    proc = subprocess.run([sys.executable, "-m", "speechbrain_align.dataio.synthetic",
                           "--text", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "missing.txt: cannot read text file" in proc.stderr
