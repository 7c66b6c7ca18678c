"""A tiny Speech2Vec training run that the kill tests (test_checkpoints.py) kill.

    python crash_driver.py <train.csv> <output_folder> [<valid.csv>]

Trains the Bible recipe's fast Speech2Vec (dropout, shuffling and neighbour
subsampling on, so every random generator matters) for a few epochs and
exports the vectors. Fault injection, for a kill at an exact instant:

* ``CRASH_AT_SAVE=K``: the K-th ``torch.save`` of this process writes half of
  its bytes, then the process kills itself with SIGKILL (inside a checkpoint
  write: after ``CKPT.yaml``, before or during the parameter files);
* ``CRASH_AT_DELETE=K``: the K-th folder deletion removes one file, then the
  process kills itself (a kill half-way through deleting an old checkpoint).
"""

import io
import os
import shutil
import signal
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST_YAML = os.path.join(REPO, "recipes", "Bible", "speech2vec", "hparams", "speech2vec_fast.yaml")
EPOCHS = 6


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def _inject_faults():
    import torch

    save_at = int(os.environ.get("CRASH_AT_SAVE", "0"))
    delete_at = int(os.environ.get("CRASH_AT_DELETE", "0"))
    calls = {"save": 0, "delete": 0}
    real_save, real_rmtree = torch.save, shutil.rmtree

    def save(obj, f, *args, **kwargs):
        calls["save"] += 1
        if calls["save"] == save_at and isinstance(f, (str, os.PathLike)):
            buffer = io.BytesIO()
            real_save(obj, buffer, *args, **kwargs)
            with open(f, "wb") as handle:
                handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            _die()
        return real_save(obj, f, *args, **kwargs)

    def rmtree(path, *args, **kwargs):
        name = os.path.basename(os.fspath(path))
        if "CKPT+" in name and not name.endswith(".partial"):  # a checkpoint's deletion
            calls["delete"] += 1
        if delete_at and calls["delete"] == delete_at:
            files = sorted(os.listdir(path))
            os.remove(os.path.join(path, files[-1]))
            _die()
        return real_rmtree(path, *args, **kwargs)

    torch.save = save
    shutil.rmtree = rmtree


def main(train_csv, output_folder, valid_csv=None):
    """Train and export; the overrides keep it to about a second of training."""
    import torch
    from hyperpyyaml import load_hyperpyyaml

    from speechbrain_align.speech.speech2vec_brain import run_speech2vec

    torch.set_num_threads(1)
    _inject_faults()
    overrides = (
        f"train_csv: {train_csv}\nvalid_csv: {valid_csv or 'null'}\n"
        f"output_folder: {output_folder}\nnumber_of_epochs: {EPOCHS}\n"
        "enc_hidden: 16\ndec_hidden: 16\nemb_dim: 8\nbatch_size: 4\nkmeans_clusters: 3\n"
        "lr: 0.01\nmax_contexts: 1\ndecoder_input_dropout: 0.5\n"
    )
    with open(FAST_YAML, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle, overrides)
    run_speech2vec(hparams, {"device": "cpu", "noprogressbar": True})
    print("finished")


if __name__ == "__main__":
    main(*sys.argv[1:])
