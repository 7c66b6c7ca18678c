"""Tests for recipes/Bible/bible_prepare.py (the default spoken-Bible corpus)."""

import json
import os
import pathlib
import shutil
import sys

import pytest

RECIPE = pathlib.Path(__file__).resolve().parents[1] / "recipes" / "Bible"
sys.path.insert(0, str(RECIPE))

import bible_prepare as bp  # noqa: E402

from speechbrain_align.dataio.manifest import read_segment_manifest  # noqa: E402


def _chapters(n=40, verses=3, words=6):
    return [(f"Gen.{c}", [(f"Gen.{c}.{v}", "word " * words) for v in range(1, verses + 1)])
            for c in range(1, n + 1)]


def test_choose_speech_chapters():
    chs = _chapters()
    small = bp.choose_speech_chapters(chs, "small", speech_tokens=100, seed=5)
    assert small == bp.choose_speech_chapters(chs, "small", speech_tokens=100, seed=5)
    assert small != bp.choose_speech_chapters(chs, "small", speech_tokens=100, seed=6)
    assert len(small) == 6  # 18 tokens a chapter: the first 6 reach 100
    assert len(bp.choose_speech_chapters(chs, "small", speech_tokens=10, min_chapters=4)) == 4
    full = bp.choose_speech_chapters(chs, "full", seed=5)
    assert len(full) == 20 and full <= {c for c, _ in chs}
    with pytest.raises(ValueError, match="size"):
        bp.choose_speech_chapters(chs, "huge")
    with pytest.raises(ValueError, match="speech_tokens"):
        bp.choose_speech_chapters(chs, "small", speech_tokens=0)


def test_group_chapters_keeps_order():
    verses = [("Ps.3.1", "a"), ("Ps.3.2", "b"), ("Ps.10.1", "c"), ("1John.1.1", "d")]
    assert [c for c, _ in bp.group_chapters(verses)] == ["Ps.3", "Ps.10", "1John.1"]


@pytest.fixture(scope="module")
def small_bible(tmp_path_factory):
    if shutil.which("mod2imp") is None:
        pytest.skip("mod2imp (libsword-utils) is not installed")
    conf_dirs = [pathlib.Path(os.environ.get("SWORD_PATH", "/usr/share/sword")) / "mods.d",
                 pathlib.Path.home() / ".sword" / "mods.d"]
    confs = {p.name.lower() for d in conf_dirs if d.is_dir() for p in d.iterdir()}
    for module in bp.TEXT_MODULES.values():
        if f"{module.lower()}.conf" not in confs:
            pytest.skip(f"SWORD module {module} is not installed")
    out = tmp_path_factory.mktemp("bible")
    summary = bp.prepare_bible(out, size="small", speech_tokens=300, n_speakers=3,
                               splits=(("train", 1), ("valid", 1), ("test", 1)),
                               seed=11, num_workers=2, progress=False)
    return out, summary


def test_prepare_bible_layout_and_sizes(small_bible):
    out, summary = small_bible
    assert json.load(open(out / "bible_corpus.json")) == summary
    speech = summary["speech"]
    assert speech["tokens"] >= 300 and speech["speakers"] == 3
    assert speech["dropped_utterances"] == 0
    spk = {}
    for split in ("train", "valid", "test"):
        rows = read_segment_manifest(out / "speech" / f"{split}.csv")
        assert rows and all(r["phones"] for r in rows)
        spk[split] = {r["spk_id"] for r in rows}
    assert len(set.union(*spk.values())) == 3
    # Transcripts are the spoken tokens.
    transcripts = (out / "text" / "speech_transcripts.txt").read_text(encoding="utf-8")
    assert len(transcripts.split()) == speech["tokens"]
    assert summary["text"]["speech_transcripts.txt"]["lines"] == speech["utterances"]


def test_text_side_leaves_spoken_chapters_out(small_bible):
    out, summary = small_bible
    spoken = summary["speech_chapters"]
    assert len(spoken) == 3  # one chapter per speaker at least
    assert summary["n_chapters"] == 1189  # the 66-book canon
    for name in ("web_text.txt", "kjv.txt", "rv1909.txt"):
        lines = (out / "text" / name).read_text(encoding="utf-8").splitlines()
        assert len(lines) == summary["text"][name]["lines"] > 29000
    # The spoken verses are not in the WEB text corpus (verses are long enough
    # to be unique; allow a rare repeated short verse).
    web = set((out / "text" / "web_text.txt").read_text(encoding="utf-8").splitlines())
    spoken_lines = (out / "text" / "speech_transcripts.txt").read_text(
        encoding="utf-8").splitlines()
    repeated = sum(1 for line in spoken_lines if line in web)
    assert repeated <= max(1, len(spoken_lines) // 20)
    # Spanish text is Spanish.
    rv = (out / "text" / "rv1909.txt").read_text(encoding="utf-8")
    assert " dios " in rv and " god " not in rv


def test_prepare_bible_skips_when_done(small_bible):
    out, summary = small_bible
    manifest = out / "speech" / "train.csv"
    mtime = os.path.getmtime(manifest)
    again = bp.prepare_bible(out, size="small", speech_tokens=300, n_speakers=3,
                             splits=(("train", 1), ("valid", 1), ("test", 1)),
                             seed=11, num_workers=2, progress=False)
    assert again == summary and os.path.getmtime(manifest) == mtime
