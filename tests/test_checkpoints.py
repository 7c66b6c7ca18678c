"""Crash-safe checkpoints (SafeCheckpointer) and exact resume after SIGKILL."""

import logging
import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from speechbrain_align.utils.checkpoints import CheckpointError, SafeCheckpointer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(REPO, "tests", "crash_driver.py")


def _setup(folder, log=None):
    layer = torch.nn.Linear(3, 2)
    ckpt = SafeCheckpointer(folder, {"layer": layer}, log_files=[log] if log else None)
    return layer, ckpt


def test_issue_repro_empty_ckpt_yaml_is_skipped(tmp_path, caplog):
    """A folder with an empty CKPT.yaml (a kill before anything else was written)."""
    layer, ckpt = _setup(tmp_path)
    ckpt.save_and_keep_only(meta={"loss": 0.5})
    weight = layer.weight.detach().clone()
    bad = tmp_path / "CKPT+2099-01-01+00-00-00+00"
    bad.mkdir()
    (bad / "CKPT.yaml").write_text("")
    torch.nn.init.zeros_(layer.weight)
    with caplog.at_level(logging.WARNING):
        loaded = ckpt.recover_if_possible()
    assert loaded.meta["loss"] == 0.5 and torch.equal(layer.weight, weight)
    assert "CKPT+2099-01-01+00-00-00+00: CKPT.yaml is empty or incomplete; skipped" in caplog.text


@pytest.mark.parametrize("damage", ["empty", "truncated", "flipped"])
def test_damaged_newest_checkpoint_falls_back(tmp_path, caplog, damage):
    layer, ckpt = _setup(tmp_path)
    ckpt.save_checkpoint(meta={"n": 1})
    first = layer.weight.detach().clone()
    torch.nn.init.ones_(layer.weight)
    newest = ckpt.save_checkpoint(meta={"n": 2})
    data = newest.paramfiles["layer"].read_bytes()
    damaged = {"empty": b"", "truncated": data[: len(data) // 2],
               "flipped": data[:-9] + bytes([data[-9] ^ 1]) + data[-8:]}[damage]
    newest.paramfiles["layer"].write_bytes(damaged)
    with caplog.at_level(logging.WARNING):
        assert ckpt.recover_if_possible().meta["n"] == 1
    assert torch.equal(layer.weight, first)
    assert newest.path.name in caplog.text and "skipped" in caplog.text


def test_plain_speechbrain_checkpoint_with_empty_file(tmp_path, caplog):
    """Folders written by SpeechBrain's own Checkpointer are checked too."""
    from speechbrain.utils.checkpoints import Checkpointer

    layer = torch.nn.Linear(3, 2)
    old = Checkpointer(tmp_path, {"layer": layer})
    old.save_checkpoint(meta={"n": 1})
    time.sleep(0.01)
    newest = old.save_checkpoint(meta={"n": 2})
    newest.paramfiles["layer"].write_bytes(b"")  # the issue's bare EOFError
    _, ckpt = _setup(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert ckpt.recover_if_possible().meta["n"] == 1
    assert "layer.ckpt is empty" in caplog.text


def test_only_damaged_checkpoints_is_a_clear_error(tmp_path):
    layer, ckpt = _setup(tmp_path)
    saved = ckpt.save_checkpoint()
    # same size, other bytes: passes the listing, fails the hash
    data = saved.paramfiles["layer"].read_bytes()
    saved.paramfiles["layer"].write_bytes(bytes(len(data)))
    with pytest.raises(CheckpointError, match="none of the 1 checkpoints could be loaded"):
        ckpt.recover_if_possible()


def test_model_that_does_not_fit_names_the_folder(tmp_path):
    _, ckpt = _setup(tmp_path)
    saved = ckpt.save_checkpoint()
    other = SafeCheckpointer(tmp_path, {"layer": torch.nn.Linear(5, 2)})
    with pytest.raises(CheckpointError, match=re.escape(saved.path.name) + ": does not fit this model"):
        other.recover_if_possible()


def test_staging_and_deleting_leftovers_are_removed(tmp_path):
    _, ckpt = _setup(tmp_path)
    ckpt.save_checkpoint(meta={"n": 1})
    for name in (".CKPT+2099+00.partial", ".CKPT+2000+00.deleting"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "CKPT.yaml").write_text("end-of-epoch: true\nunixtime: 1\n")
    _, again = _setup(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert [c.meta["n"] for c in again.list_checkpoints()] == [1]


def test_keep_only_and_custom_name(tmp_path):
    layer, ckpt = _setup(tmp_path)
    for loss in (3.0, 1.0, 2.0):
        ckpt.save_and_keep_only(meta={"loss": loss}, min_keys=["loss"])
    assert sorted(c.meta["loss"] for c in ckpt.list_checkpoints()) == [1.0, 2.0]
    torch.nn.init.ones_(layer.weight)
    ckpt.save_checkpoint(name="final", meta={"v": 1})
    torch.nn.init.zeros_(layer.weight)
    ckpt.save_checkpoint(name="final", meta={"v": 2})  # replaces it
    final = [c for c in ckpt.list_checkpoints() if c.path.name == "CKPT+final"]
    assert len(final) == 1 and final[0].meta["v"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_resume_rewinds_the_train_log(tmp_path):
    log = str(tmp_path / "train_log.txt")
    _, ckpt = _setup(tmp_path / "save", log)
    with open(log, "w") as handle:
        handle.write("epoch: 1\n")
    ckpt.save_checkpoint(meta={"epoch": 1})
    with open(log, "a") as handle:
        handle.write("epoch: 2\n")  # logged, then killed before its checkpoint
    _, resumed = _setup(tmp_path / "save", log)
    resumed.recover_if_possible(min_key="epoch")  # testing the best: no rewind
    assert open(log).read() == "epoch: 1\nepoch: 2\n"
    resumed.recover_if_possible()  # resuming training (Brain.fit): rewound
    assert open(log).read() == "epoch: 1\n"


def test_finished_run_keeps_its_log(tmp_path):
    from speechbrain.utils.epoch_loop import EpochCounter

    log = str(tmp_path / "train_log.txt")
    counter = EpochCounter(1)
    ckpt = SafeCheckpointer(tmp_path / "save", {"counter": counter}, log_files=[log])
    for _ in counter:
        with open(log, "w") as handle:
            handle.write("epoch: 1\n")
        ckpt.save_checkpoint()
    with open(log, "a") as handle:
        handle.write("test: 0.9\n")  # written after the last checkpoint
    again = SafeCheckpointer(tmp_path / "save", {"counter": EpochCounter(1)}, log_files=[log])
    again.recover_if_possible()  # nothing left to train: no rewind
    assert open(log).read() == "epoch: 1\ntest: 0.9\n"
    longer = SafeCheckpointer(tmp_path / "save", {"counter": EpochCounter(2)}, log_files=[log])
    longer.recover_if_possible()  # one more epoch to train: rewound
    assert open(log).read() == "epoch: 1\n"


def test_rng_states_resume(tmp_path):
    _, ckpt = _setup(tmp_path)
    sampler = random.Random(5)
    ckpt.track_rng("sampler", sampler)
    torch.manual_seed(1)
    np.random.seed(1)
    ckpt.save_checkpoint()
    expected = (torch.rand(3), np.random.rand(3), random.random(), sampler.random())
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    sampler.seed(99)
    ckpt.recover_if_possible()
    got = (torch.rand(3), np.random.rand(3), random.random(), sampler.random())
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1])
    assert expected[2:] == got[2:]


# ---------------------------------------------------------------- SIGKILL test


def _run(corpus, valid, out, env=None, kill_after_epoch=None):
    """Run the driver; optionally SIGKILL it a random instant after its next epoch."""
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1", **(env or {}))
    proc = subprocess.Popen([sys.executable, DRIVER, corpus, out, valid], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if kill_after_epoch is not None:
        log = os.path.join(out, "train_log.txt")
        size = os.path.getsize(log) if os.path.exists(log) else 0
        deadline = time.time() + 60
        while proc.poll() is None and time.time() < deadline:
            if os.path.exists(log) and os.path.getsize(log) != size:
                time.sleep(kill_after_epoch)
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _result(out):
    with np.load(os.path.join(out, "vectors", "segments.npz")) as data:
        vectors = {k: data[k] for k in data.files}
    with open(os.path.join(out, "train_log.txt")) as handle:
        lines = [re.sub(r",? ?train seconds: [^ ]+", "", line) for line in handle]
    return vectors, lines


def test_sigkill_at_random_instants_resumes_exactly(tmp_path):
    """Kill a tiny Speech2Vec run 5 times (inside checkpoint writes, inside a
    deletion, at random instants); the final vectors and log equal an
    uninterrupted run's."""
    from test_speech2vec import make_corpus

    corpus = make_corpus(str(tmp_path / "train"), n_utts=12)
    valid = make_corpus(str(tmp_path / "valid"), n_utts=4, seed=1)
    code, err = _run(corpus, valid, str(tmp_path / "clean"))
    assert code == 0, err[-2000:]
    expected_vectors, expected_log = _result(str(tmp_path / "clean"))
    assert len(expected_log) == 6

    out = str(tmp_path / "killed")
    rng = random.Random(12)
    attempts = [
        {"env": {"CRASH_AT_SAVE": "3"}},  # epoch 2: half of model.ckpt written
        {"env": {"CRASH_AT_SAVE": "2"}},  # epoch 2 again: half of optimizer.ckpt
        {"env": {"CRASH_AT_DELETE": "1"}},  # half-way through deleting a checkpoint
        {"kill_after_epoch": rng.uniform(0, 0.25)},
        {"kill_after_epoch": rng.uniform(0, 0.25)},
    ]
    killed = 0
    for attempt in attempts:
        code, err = _run(corpus, valid, out, **attempt)
        assert code in (0, -signal.SIGKILL), err[-3000:]
        killed += code == -signal.SIGKILL
    assert killed >= 4
    code, err = _run(corpus, valid, out)
    assert code == 0, err[-3000:]
    vectors, log = _result(out)
    assert log == expected_log  # each epoch once, same losses
    assert vectors.keys() == expected_vectors.keys()
    for key in vectors:
        assert np.array_equal(vectors[key], expected_vectors[key]), key
