"""Bad inputs of issue 12, each answered with one clear error or warning.

The case numbers are the issue's; docs/reliability.md lists them all with
what each input gets. Checkpoints and resume (cases 1-3) are tested in
test_checkpoints.py.
"""

import contextlib
import importlib.util
import io
import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from speechbrain_align.dataio.alignments import (
    AlignmentError,
    read_ctm,
    read_textgrid,
    speaker_bucket,
    split_speakers_by_hash,
)
from speechbrain_align.dataio.audio import AudioError, audio_info, check_segments_audio, load_segment
from speechbrain_align.dataio.manifest import (
    ManifestError,
    Segment,
    read_segment_manifest,
    write_segment_manifest,
)
from speechbrain_align.dataio.textgrid import format_textgrid
from speechbrain_align.dataio.vectors import VectorFileError, load_embeddings, read_vec
from speechbrain_align.utils.errors import HparamsError, load_recipe_hparams, run_main
from test_inference import toy  # noqa: F401 (fixture: a toy aligned space)

REPO = pathlib.Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
RATE = 16000


def _wav(path, seconds, rate=RATE, fmt=None):
    signal = 0.1 * np.sin(np.arange(int(seconds * rate)) * 0.3)
    soundfile.write(str(path), signal.astype("float32"), rate, format=fmt)
    return str(path)


def _script(relative):
    """A recipe or prepare script loaded as a module (its ``main`` callable)."""
    path = RECIPES / relative
    sys.path.insert(0, str(path.parent.parent))  # e.g. train.py importing ../x_prepare.py
    try:
        spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent.parent))
    return module


def _main_error(relative, argv):
    """``(exit code, stderr)`` of a script's main run through run_main, in this process."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = run_main(_script(relative).main, [str(a) for a in argv], prog="x")
    return code, stderr.getvalue()


# ---------------------------------------------------------------- audio (4, 5)


def test_4_truncated_flac_is_caught_at_prepare_time_naming_the_file(tmp_path):
    flac = _wav(tmp_path / "u.flac", 1.0)
    data = open(flac, "rb").read()
    open(flac, "wb").write(data[: len(data) // 2])
    audio_info.cache_clear()
    seg = Segment(flac, 0.1, 0.3, "a", "s", "u", 0)  # before the cut: the header alone passes
    with pytest.raises(AudioError, match=re.escape(flac) + r": truncated or damaged audio"):
        check_segments_audio([seg], "m.csv")
    with pytest.raises(AudioError, match=re.escape(flac)):
        load_segment(flac, 0.1, 0.3)


def test_5_frames_path_rejects_segments_past_the_audio(tmp_path):
    from speechbrain_align.speech.feature_cache import extract_features
    from speechbrain_align.speech.features import FeatureExtractor

    wav = _wav(tmp_path / "short.wav", 0.47)
    rows = [{"ID": "u_0000", "wav": wav, "start": 0.1, "stop": 5.0}]
    with pytest.raises(AudioError, match=r"m.csv: segment 'u_0000' \[0.1000, 5.0000\] s falls outside"):
        extract_features(rows, FeatureExtractor(), "m.csv")
    # a WAV with half its data missing: libsndfile reports the frames present
    half = _wav(tmp_path / "half.wav", 1.0)
    data = open(half, "rb").read()
    open(half, "wb").write(data[: len(data) // 2])
    audio_info.cache_clear()
    rows = [{"ID": "h_0000", "wav": half, "start": 0.2, "stop": 0.9}]
    with pytest.raises(AudioError, match="'h_0000'.*falls outside"):
        extract_features(rows, FeatureExtractor(), "m.csv")


# ---------------------------------------------------------------- MLP image cache (6)


def test_6_image_cache_follows_the_audio_not_only_the_ids(tmp_path):
    from speechbrain_align.speech.classifier_data import cache_images

    wav = _wav(tmp_path / "a.wav", 1.0)
    rows = [{"ID": "a_0000", "wav": wav, "start": 0.0, "stop": 0.3},
            {"ID": "a_0001", "wav": wav, "start": 0.3, "stop": 0.9}]
    cache = str(tmp_path / "images_train.npz")
    first = cache_images(rows, cache, n_mels=20, size=8)
    moved = [dict(rows[0], start=0.5, stop=0.6), rows[1]]  # same ids, other times
    second = cache_images(moved, cache, n_mels=20, size=8)
    assert not np.allclose(first["a_0000"], second["a_0000"])
    missing = [dict(r, wav=str(tmp_path / "gone.wav")) for r in rows]
    with pytest.raises(AudioError, match="gone.wav: audio file not found"):
        cache_images(missing, cache, n_mels=20, size=8)


# ---------------------------------------------------------------- hparams (7, 12)


@pytest.mark.parametrize("script, key", [
    ("Bible/speech2vec", "number_of_epochs"),
    ("Bible/classification", "number_of_epochs"),
    ("TextToText/alignment", "n_epochs"),
])
def test_7_no_epoch_to_train_is_refused_naming_the_key(tmp_path, script, key):
    yaml = next((RECIPES / script / "hparams").glob("*.yaml"))
    argv = [yaml, f"--output_folder={tmp_path}", f"--{key}=-1"]
    if "TextToText" in script:
        assert "src_vec has no value: pass --src_vec=" in _main_error(f"{script}/train.py", argv)[1]
        argv += ["--src_vec=a.vec", "--tgt_vec=b.vec"]
    code, err = _main_error(f"{script}/train.py", argv)
    assert code == 1 and f"--{key}=-1: the number of epochs must be at least 1" in err, err


@pytest.mark.parametrize("override, message", [
    ("--number_of_epochs=abc", "--number_of_epochs='abc': expected an integer"),
    ("--lr=fast", "--lr='fast': expected a number"),
    ("--number_of_epoch=3", "--number_of_epoch: no such key"),
])
def test_12_bad_override_names_its_key(tmp_path, override, message):
    code, err = _main_error("Bible/speech2vec/train.py", [
        RECIPES / "Bible/speech2vec/hparams/speech2vec_fast.yaml", f"--output_folder={tmp_path}",
        override])
    assert code == 1 and message in err, err


def test_12_hparams_errors_direct(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(HparamsError, match=r"bad.yaml: not valid YAML \(line \d+"):
        load_recipe_hparams(bad)
    with pytest.raises(HparamsError, match="missing.yaml: cannot read"):
        load_recipe_hparams(tmp_path / "missing.yaml")


@pytest.mark.parametrize("arg", ["--max_vocab=abc", "--csls_k=abc"])
def test_12_text_alignment_recipe_names_the_bad_option(tmp_path, arg):
    code, err = _main_error("TextToText/alignment/train.py", [
        RECIPES / "TextToText/alignment/hparams/muse.yaml", f"--output_folder={tmp_path}",
        "--src_vec=a.vec", "--tgt_vec=b.vec", arg])
    key = arg[2:].split("=")[0]
    assert code == 1 and f"--{key}='abc': expected an integer" in err
    assert "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "latin-1"])
def test_12_manifest_encodings(tmp_path, encoding):
    path = tmp_path / "m.csv"
    write_segment_manifest([Segment("/a.wav", 0.0, 0.3, "café", "s", "u", 0)], path)
    path.write_bytes(path.read_text(encoding="utf-8").encode(encoding))
    if encoding == "latin-1":
        with pytest.raises(ManifestError, match=r"m.csv:2: not valid UTF-8 text \(byte 0xe9\)"):
            read_segment_manifest(path)
    else:
        assert [r["word"] for r in read_segment_manifest(path)] == ["café"]


def test_12_random_bytes_named_npz(tmp_path):
    for name, data in (("random.npz", os.urandom(500)), ("zip.npz", b"PK\x03\x04" + os.urandom(99))):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(VectorFileError, match=re.escape(str(tmp_path / name))):
            load_embeddings(tmp_path / name)


@pytest.mark.parametrize("damaged", ["mapping.ckpt", "encoder.ckpt", "feature_extractor.ckpt"])
def test_12_damaged_aligned_space_file_is_named(tmp_path, toy, damaged):  # noqa: F811
    from speechbrain_align.inference.pretrained import AlignedSpace, AlignedSpaceError
    from speechbrain_align.utils.errors import UserError

    folder = tmp_path / "space"
    shutil.copytree(toy["folder"], folder)
    data = (folder / damaged).read_bytes()
    (folder / damaged).write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=re.escape(str(folder / damaged))) as info:
        AlignedSpace.from_hparams(source=folder)
    assert damaged == "feature_extractor.ckpt" or isinstance(info.value, AlignedSpaceError)


# ---------------------------------------------------------------- vectors (8)


def test_8_vec_header_count_checked_with_a_vocabulary_limit(tmp_path):
    path = tmp_path / "v.vec"
    path.write_text("5 2\na 1 2\nb 3 4\nc 5 6\n")  # truncated: 3 of 5 rows
    for limit in (None, 2, 10):
        with pytest.raises(VectorFileError, match=r"v.vec:1: header says 5 words but the file has 3"):
            read_vec(path, max_vocab=limit)
    path.write_text("3 2\na 1 2\nb 3 4\nc 5 6\n")
    assert read_vec(path, max_vocab=2).words == ["a", "b"]


# ---------------------------------------------------------------- alignments (9, 10, 14)


def test_9_overlapping_textgrid_words_are_reported(tmp_path, caplog):
    wav = _wav(tmp_path / "u.wav", 1.5)
    grid = tmp_path / "u.TextGrid"
    grid.write_text(format_textgrid({"words": [(0.0, 0.3, ""), (0.3, 0.8, "hello"),
                                               (0.6, 1.2, "world"), (1.2, 1.5, "")]}))
    with caplog.at_level(logging.WARNING):
        segs = read_textgrid(str(grid), wav, "s")
    assert [s.word for s in segs] == ["hello", "world"]
    assert re.search(rf"1 word\(s\) overlap .*{re.escape(str(grid))}:\d+: 'world' starts at "
                     r"0.6000 s, before 'hello' ends at 0.8000 s", caplog.text)


def test_10_degenerate_hashed_speaker_split(caplog):
    with pytest.raises(AlignmentError, match=r"none of the 2 speakers falls in '(valid|test)'"):
        split_speakers_by_hash(["anna", "bob"], 0.1, 0.1)
    speakers = [f"s{i}" for i in range(20)]
    b = sorted(speaker_bucket(s) for s in speakers)
    valid = (b[1] + b[2]) / 2  # two speakers
    test = (b[2] + b[3]) / 2 - valid  # one speaker
    with caplog.at_level(logging.WARNING):
        split = split_speakers_by_hash(speakers, valid, test)
    assert sorted(split.values()).count("test") == 1
    assert "'test' has a single speaker (of 20)" in caplog.text


def test_14_ctm_times_rounded_to_milliseconds_at_the_end(tmp_path):
    wav = _wav(tmp_path / "a.wav", 1.3594)  # 21750 samples = 1.359375 s
    ctm = tmp_path / "w.ctm"
    ctm.write_text("u1 1 0.100 0.500 hello\nu1 1 0.700 0.659 world\n")  # ends at 1.359
    segs = read_ctm(str(ctm), {"u1": wav}, {"u1": "s"})
    assert [s.word for s in segs] == ["hello", "world"]
    ctm.write_text("u1 1 0.100 0.500 hello\nu1 1 0.700 0.660 world\n")  # ends at 1.360
    segs = read_ctm(str(ctm), {"u1": wav}, {"u1": "s"})
    assert segs[-1].stop == pytest.approx(21750 / RATE)  # moved to the end of the audio
    ctm.write_text("u1 1 0.100 0.500 hello\nu1 1 0.700 0.662 world\n")  # 2.6 ms too long
    with pytest.raises(AudioError, match=r"w.ctm:2: word 'world' \[0.7000, 1.3620\] s falls "
                       r"outside .*ends 2.63 ms after the audio \(21750 samples = 1.35938 s"):
        read_ctm(str(ctm), {"u1": wav}, {"u1": "s"})


# ---------------------------------------------------------------- inference (11)


def test_11_inference_refuses_silence_and_5_ms_and_notes_8_khz(tmp_path, toy):  # noqa: F811
    from speechbrain_align.inference.pretrained import AlignedSpace, QueryError

    space = AlignedSpace.from_hparams(source=toy["folder"])
    silence = tmp_path / "silence.wav"
    soundfile.write(silence, np.zeros(8000, dtype="float32"), RATE)
    with pytest.raises(QueryError, match=re.escape(str(silence)) + ": silent"):
        space.query(str(silence))
    with pytest.raises(QueryError, match=r"5.0 ms of audio"):
        space.query((0.3 * np.ones(80, dtype="float32"), RATE))
    narrow = _wav(tmp_path / "narrow.wav", 0.4, rate=8000)
    answer = space.query(narrow, k=1)
    assert "8000 Hz audio resampled to 16000 Hz (narrowband" in answer["notes"][0]
    from speechbrain_align.inference.__main__ import format_answer

    assert "note: " in format_answer(narrow, answer)


# ---------------------------------------------------------------- scripts (13, 15)


def _main_scripts():
    scripts = sorted(RECIPES.rglob("*.py"))
    package = REPO / "speechbrain_align"
    scripts += [p for p in sorted(package.rglob("*.py")) if '__name__ == "__main__"' in p.read_text()]
    return [p for p in scripts if '__name__ == "__main__"' in p.read_text()]


def test_13_every_script_answers_user_errors_through_run_main():
    scripts = _main_scripts()
    assert len(scripts) >= 18
    for path in scripts:
        block = path.read_text().split('if __name__ == "__main__":', 1)[1]
        assert "run_main(main)" in block, f"{path}: __main__ does not use run_main"


@pytest.mark.parametrize("relative, argv, message", [
    ("Bible/classification/train.py",
     ["Bible/classification/hparams/mlp.yaml", "--data_folder=/nonexistent"], "manifests not found"),
    ("Bible/units/train.py", ["Bible/units/hparams/units.yaml", "--train_csv=/nonexistent.csv"],
     "/nonexistent.csv: manifest not found"),
    ("TIMIT/timit_prepare.py", ["/nonexistent", "{tmp}/out"], "/nonexistent: No such file"),
    ("TextToText/alignment/train.py",
     ["TextToText/alignment/hparams/muse.yaml", "--src_vec=/nonexistent.vec", "--tgt_vec=b.vec"],
     "/nonexistent.vec: cannot open"),
])
def test_13_user_errors_are_one_line(tmp_path, relative, argv, message):
    argv = [str(RECIPES / a) if a.endswith(".yaml") else a.format(tmp=tmp_path) for a in argv]
    argv += [f"--output_folder={tmp_path}"] if relative.endswith("train.py") else []
    code, err = _main_error(relative, argv)
    assert code == 1 and message in err, err
    assert err.startswith("x: error: ") and err.count("\n") == 1


def test_13_command_line_exit_status_and_no_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, str(RECIPES / "Bible/speech2vec/train.py"),
           str(RECIPES / "Bible/speech2vec/hparams/speech2vec_fast.yaml"),
           f"--output_folder={tmp_path}", "--number_of_epochs=abc"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "error: " in proc.stderr and "--number_of_epochs='abc': expected an integer" in proc.stderr


def test_15_text_alignment_checks_everything_before_touching_results(tmp_path):
    from speechbrain_align.dataio.vectors import Embeddings, write_vec

    words = [f"w{i}" for i in range(30)]
    rng = np.random.default_rng(0)
    write_vec(Embeddings(words, rng.normal(size=(30, 4))), tmp_path / "a.vec")
    write_vec(Embeddings(words, rng.normal(size=(30, 4))), tmp_path / "b.vec")
    out = tmp_path / "results"
    out.mkdir()
    kept = {name: f"{name} of the finished run\n" for name in
            ("hyperparams.yaml", "train.py", "env.log", "results.json")}
    for name, text in kept.items():
        (out / name).write_text(text)
    (tmp_path / "bad.txt").write_bytes(b"w1\tw2\n\xff\xfe\n")
    (tmp_path / "good.txt").write_text("".join(f"{w}\t{w}\n" for w in words))
    common = [RECIPES / "TextToText/alignment/hparams/supervised.yaml", f"--output_folder={out}",
              f"--src_vec={tmp_path / 'a.vec'}", f"--tgt_vec={tmp_path / 'b.vec'}"]
    for extra, message in (([f"--dico_eval={tmp_path / 'bad.txt'}"], "bad.txt:2"),
                           ([f"--dico_eval={tmp_path / 'none.txt'}"], "none.txt"),
                           ([f"--dico_eval={tmp_path / 'good.txt'}", "--normalize=[unit, half]"],
                            "normalize: unknown 'half'")):
        code, err = _main_error("TextToText/alignment/train.py", common + extra)
        assert code == 1 and message in err, err
        for name, text in kept.items():
            assert (out / name).read_text() == text, name


def test_12_damaged_feature_cache_is_recomputed(tmp_path, caplog):
    from speechbrain_align.speech.feature_cache import load_features
    from speechbrain_align.speech.features import FeatureExtractor

    wav = _wav(tmp_path / "a.wav", 1.0)
    manifest = tmp_path / "m.csv"
    write_segment_manifest([Segment(wav, 0.1, 0.4, "a", "s", "u", 0),
                            Segment(wav, 0.5, 0.9, "b", "s", "u", 1)], manifest)
    cache = tmp_path / "cache"
    first = load_features(manifest, str(cache), FeatureExtractor(), progress=False)
    feats = next(cache.glob("*.feats.npy"))
    feats.write_bytes(feats.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        again = load_features(manifest, str(cache), FeatureExtractor(), progress=False)
    assert "unusable feature cache" in caplog.text and str(feats) in caplog.text
    assert np.array_equal(first.feats.numpy(), again.feats.numpy())
