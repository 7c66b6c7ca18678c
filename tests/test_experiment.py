"""The README's main job end to end on a tiny spoken corpus (all stages, tiny settings)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(shutil.which("mod2imp") is None, reason="needs libsword-utils and the SWORD Bibles (installed by run.sh)")
def test_tiny_experiment_runs_every_stage(tmp_path):
    overrides = [
        f"--data_folder={tmp_path}/data",
        f"--output_folder={tmp_path}/out",
        "--speech_tokens=1500",
        "--n_speakers=6",
        "--skipgram={dim: 50, window: 5, min_count: 2, epochs: 1, sample: 0.001}",
        "--speech2vec_train_tokens=800",
        "--speech2vec_chunk_train_tokens=500",
        "--valid_tokens=100",
        "--speech2vec_overrides={number_of_epochs: 1, feature_workers: 1}",
        "--kmeans_clusters=30",
        "--units_overrides={n_units: 30, run_diagnostics: False, pca_dim: 16, feature_workers: 1}",
        "--classifier_train_tokens=800",
        "--classifier_overrides={number_of_epochs: 1, min_train_tokens: 5}",
        "--type_min_count=1",
        "--unsupervised_rows=[A, B, F, units, T]",
        "--unsupervised_methods=[adversarial, vecmap]",
        "--alignment={normalize: [unit, center, unit], map_orthogonalize: svd, map_lr: 1.0, "
        "n_epochs: 1, epoch_size: 20, max_rank: 50, dis_hidden: 32, n_refinement: 1, "
        "dico_max_rank: 100, criterion_words: 100, init_vocab: 100, vocab_cutoff: 100, "
        "stochastic_interval: 2, max_iters: 10}",
    ]
    cmd = [sys.executable, "recipes/Bible/experiment/run_experiment.py",
           "recipes/Bible/experiment/hparams/default.yaml"] + overrides
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "out"
    results = json.loads((out / "results.json").read_text())["results"]
    rows = set(results["classification"])
    for row in ("A*", "A (adversarial)", "A (vecmap)", "B (adversarial)", "F (adversarial)",
                "units (adversarial)", "T*"):
        assert row in rows, rows
    cell = results["classification"]["A*"]["same"]
    assert cell["n_scored"] > 0 and 0.0 <= cell["csls_P@1"] <= 100.0
    assert set(results["translation"]["A*"]) == {"es"}
    assert any(k.startswith("word classifier") for k in results["classifier"])
    table = (out / "results.md").read_text()
    assert "Spoken word classification" in table and "A (adversarial)" in table
    for png in ("speech2vec_loss.png", "classification_bars.png", "projection_A_supervised.png"):
        assert (out / "figures" / png).stat().st_size > 1000
    assert (out / "aligned_space" / "hyperparams.yaml").exists()
    assert "overlap@10" in (out / "diagnostics.md").read_text()
