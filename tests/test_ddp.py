"""Multi-process training without a GPU: ``torchrun --nproc_per_node=2`` (gloo,
CPU) of the Speech2Vec and acoustic-word-embedding recipes against one process.

What "same result" means here:

* **Speech2Vec** (gradient training, DDP). Two processes with a per-process
  batch of B/2 against one process with batch B = 8, on 12 utterances of 4
  words (48 examples: 8 divides them, so no process pads its share). Under
  torchrun the training sampler splits the one-process order
  (``ddp_train_sampler``), so step k of the two processes together sees exactly
  the examples of step k of the one process; neighbour subsampling and decoder
  dropout (per-process random draws) are off. DDP averages the gradients of
  the two half-batch losses, each a mean over *its* real frames, where one
  process takes the mean over all frames of the batch: the two agree only
  when the halves hold as many frames. So every segment is cut to 0.1 s
  (:func:`equal_length`; every centre has 3 neighbours): the runs must then
  agree up to float summation order. Measured after 2 epochs (12 Adam steps):
  parameters and exported vectors within 6e-8, final validation loss (every
  process scores the whole validation set) within 5e-9 (0.96027). The test
  allows 1e-5 and 1e-6. For scale: with the variable-length words of
  ``make_corpus`` the normalisation alone moves them by 0.004-0.005 (vectors
  up to 0.5); and with SpeechBrain's default DDP sampler (each process
  shuffles with its own seed, whatever the one-process order), measured on
  these equal-length segments: parameters 0.021, vectors 0.049 apart.
  Everything written (checkpoints, train log, vectors, ``feature_extractor.json``)
  is written once, by rank 0: one checkpoint line per epoch in ``log.txt``, two
  epoch lines in ``train_log.txt``, no staging folder left.

* **AWE** (default route: VTLN + mined pairs + LDA, no gradient training).
  Nothing to share between processes: rank 0 computes and writes, the other
  waits. Every output must be *identical* to the one-process run (same bytes
  for ``segments.npz``, ``segment_vectors.npz``, ``warps.json``,
  ``n_units.json``, the LDA checkpoint; ``awe_results.json`` equal apart from
  stage times) and computed once (``log.txt`` holds one "AWE lda" line, as
  with one process; rank 1 would log its own). Its one-process reference is a
  ``python train.py`` subprocess with the torchrun workers' environment
  (1 BLAS thread): LAPACK's ``eigh`` depends on the thread count, and run in
  this process (default threads) the LDA weights came out 3e-8 apart, enough
  to change one mined pair in the next round (42 vs 41) and every vector after.

The Speech2Vec one-process reference runs in this process (same YAML and
overrides as the command line); all jobs run concurrently, to keep the test
short on a shared machine.
"""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from speechbrain_align.dataio.manifest import Segment, read_segment_manifest, write_segment_manifest
from speechbrain_align.dataio.vectors import load_embeddings
from speechbrain_align.utils.errors import load_recipe_hparams
from test_awe import make_corpus as make_awe_corpus
from test_speech2vec import make_corpus as make_word_corpus

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
S2V = os.path.join(REPO, "recipes", "Bible", "speech2vec")
AWE = os.path.join(REPO, "recipes", "Bible", "awe")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def equal_length(manifest, seconds=0.1):
    """The manifest with every segment cut to its first ``seconds`` (the shortest
    tone word lasts 0.108 s): equal frame counts, so half-batch losses weigh alike."""
    rows = read_segment_manifest(manifest)
    out = manifest.replace(".csv", "_equal.csv")
    write_segment_manifest([Segment(r["wav"], r["start"], r["start"] + seconds, r["word"], r["spk_id"],
                                    r["utt_id"], r["position"]) for r in rows], out)
    return out


def _gloo_available():
    return torch.distributed.is_available() and torch.distributed.is_gloo_available()


pytestmark = pytest.mark.skipif(
    not _gloo_available(), reason="torch.distributed with the gloo backend is not available"
)


def _args(overrides):
    """``--key=value`` command-line overrides (values in YAML flow style)."""
    return [f"--{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
            for k, v in overrides.items()]


def _launch(recipe, yaml_file, overrides, log, processes=2):
    """The recipe under torchrun with ``processes`` > 1, else as ``python train.py``;
    both with 1 BLAS/OpenMP thread per process."""
    if processes > 1:
        cmd = TORCHRUN + ["--standalone", f"--nproc_per_node={processes}", "train.py",
                          f"hparams/{yaml_file}", "--distributed_backend=gloo"]
    else:
        cmd = [sys.executable, "train.py", f"hparams/{yaml_file}"]
    cmd += ["--device=cpu", "--noprogressbar"]
    # SB_LOG_LEVEL: SpeechBrain's setup_logging, run by earlier tests in this
    # process, exports DEBUG, which would add its own staging-folder "Saved" lines
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", SB_LOG_LEVEL="INFO",
               PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    handle = open(log, "w")
    return subprocess.Popen(cmd + _args(overrides), cwd=recipe, stdout=handle,
                            stderr=subprocess.STDOUT, text=True, env=env), handle


def _wait(job, log):
    proc, handle = job
    try:
        rc = proc.wait(timeout=240)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = "timeout"
    handle.close()
    with open(log) as text:
        tail = text.read()[-4000:]
    assert rc == 0, f"{proc.args[:4]} exited with {rc}:\n{tail}"


def _checkpoint(folder):
    found = sorted(glob.glob(os.path.join(folder, "CKPT+*")))
    assert len(found) == 1, found
    assert not [n for n in os.listdir(folder) if n.startswith(".")], os.listdir(folder)
    with open(os.path.join(found[0], "CKPT.yaml")) as handle:
        return found[0], yaml.safe_load(handle)


def _lines(path, text):
    with open(path) as handle:
        return [line.rstrip() for line in handle if text in line]


def _count(path, text):
    return len(_lines(path, text))


def test_torchrun_two_processes_match_one(tmp_path):
    from speechbrain_align.speech.speech2vec_brain import run_speech2vec

    # Speech2Vec: 12 utterances x 4 words = 48 examples, batch 8 (one process) / 4 + 4.
    words = equal_length(make_word_corpus(str(tmp_path / "words"), n_utts=12, words=(4, 4)))
    s2v = dict(train_csv=words, valid_csv=words, number_of_epochs=2, enc_hidden=8, dec_hidden=8,
               emb_dim=8, kmeans_clusters=3, cpu_threads=1, max_contexts=None,
               decoder_input_dropout=0.0, feature_workers=1)
    # AWE: as tests/test_awe.py, two LDA rounds.
    corpus = make_awe_corpus(str(tmp_path / "awe_corpus"))
    awe = dict(data_folder=corpus, manifests=[f"{corpus}/train.csv", f"{corpus}/test.csv"],
               eval_csv=f"{corpus}/test.csv", corpus_stats=f"{corpus}/corpus_stats.json",
               feature_workers=1, vtln_grid_min=0.9, vtln_grid_max=1.3, vtln_grid_step=0.1,
               vtln_files_per_speaker=3, mine_segments=None, mine_k=2, mine_candidates=20,
               mine_pca_dim=20, lda_dim=16, n_units_grid=[5, 10, 20], n_units_max_segments=None,
               ap_bins=2000, lda_rounds=2)

    two_s2v, two_awe = str(tmp_path / "s2v_two"), str(tmp_path / "awe_two")
    one_s2v, one_awe = str(tmp_path / "s2v_one"), str(tmp_path / "awe_one")
    runs = [(S2V, "speech2vec_fast.yaml", dict(s2v, output_folder=two_s2v, batch_size=4), "s2v.log", 2),
            (AWE, "awe.yaml", dict(awe, output_folder=two_awe), "awe.log", 2),
            (AWE, "awe.yaml", dict(awe, output_folder=one_awe), "awe_one.log", 1)]
    jobs = [(_launch(recipe, yaml_file, overrides, str(tmp_path / log), n), str(tmp_path / log))
            for recipe, yaml_file, overrides, log, n in runs]
    try:
        run_speech2vec(load_recipe_hparams(os.path.join(S2V, "hparams", "speech2vec_fast.yaml"),
                                           dict(s2v, output_folder=one_s2v, batch_size=8)),
                       {"device": "cpu", "noprogressbar": True})
    finally:
        for job, log in jobs:
            _wait(job, log)

    # ---- Speech2Vec: within the measured tolerance
    one_ckpt, one_meta = _checkpoint(os.path.join(one_s2v, "save"))
    two_ckpt, two_meta = _checkpoint(os.path.join(two_s2v, "save"))
    assert one_meta["epoch"] == two_meta["epoch"] == 2
    measured = {"valid_loss": abs(one_meta["loss"] - two_meta["loss"])}
    a = torch.load(os.path.join(one_ckpt, "model.ckpt"))
    b = torch.load(os.path.join(two_ckpt, "model.ckpt"))
    assert a.keys() == b.keys()
    measured["parameters"] = max((a[k] - b[k]).abs().max().item() for k in a)
    for name in ("segments.npz", "types_label.npz"):
        x = load_embeddings(os.path.join(one_s2v, "vectors", name))
        y = load_embeddings(os.path.join(two_s2v, "vectors", name))
        assert x.words == y.words, name
        measured[name] = float(np.abs(x.vectors - y.vectors).max())
    print("speech2vec, 2 processes vs 1, max abs differences:", measured,
          "losses:", one_meta["loss"], two_meta["loss"])
    assert measured["valid_loss"] < 1e-6
    assert measured["parameters"] < 1e-5
    assert measured["segments.npz"] < 1e-5 and measured["types_label.npz"] < 1e-5
    assert sorted(os.listdir(os.path.join(one_s2v, "vectors"))) == sorted(
        os.listdir(os.path.join(two_s2v, "vectors")))
    with open(os.path.join(one_s2v, "save", "feature_extractor.json")) as f1, \
            open(os.path.join(two_s2v, "save", "feature_extractor.json")) as f2:
        assert json.load(f1) == json.load(f2)
    # written once, by rank 0
    assert _count(os.path.join(two_s2v, "train_log.txt"), "epoch") == 2
    saved = _lines(os.path.join(two_s2v, "log.txt"), "Saved an end-of-epoch checkpoint")
    assert len(saved) == 2, saved

    # ---- AWE: identical, computed once
    for name in ("segments.npz", "n_units.json", "save/segment_vectors.npz"):
        with open(os.path.join(one_awe, name), "rb") as f1, open(os.path.join(two_awe, name), "rb") as f2:
            assert f1.read() == f2.read(), name
    lda_one, _ = _checkpoint(os.path.join(one_awe, "save", "lda"))
    lda_two, _ = _checkpoint(os.path.join(two_awe, "save", "lda"))
    with open(os.path.join(lda_one, "lda.ckpt"), "rb") as f1, open(os.path.join(lda_two, "lda.ckpt"), "rb") as f2:
        assert f1.read() == f2.read()
    for name in ("awe_results.json", "save/warps.json"):  # equal apart from stage times
        results = []
        for folder in (one_awe, two_awe):
            with open(os.path.join(folder, name)) as handle:
                results.append(json.load(handle))
                results[-1].pop("seconds")
        assert results[0] == results[1], name
    assert _count(os.path.join(two_awe, "log.txt"), "AWE lda:") == 1
