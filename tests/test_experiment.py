"""The README's main job end to end on a tiny spoken corpus (all stages, tiny settings)."""

import contextlib
import io
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
        "--awe_clusters=25",
        "--units_n_units=30",
        "--units_overrides={merge_units: True, merge: {rounds: 1}, kmeans_init_trials: 1, "
        "run_diagnostics: False, pca_dim: 16, feature_workers: 1}",
        "--classifier_train_tokens=800",
        "--classifier_overrides={number_of_epochs: 1, min_train_tokens: 5}",
        "--type_min_count=1",
        "--unsupervised_rows=[A, B, F, units, T]",
        "--unsupervised_methods=[adversarial, vecmap]",
        "--row_methods={F: [vecmap], units: [adversarial, vecmap]}",
        "--alignment_overrides={adversarial: {map_orthogonalize: svd, map_lr: 1.0, "
        "n_epochs: 1, epoch_size: 20, max_rank: 50, dis_hidden: 32, n_refinement: 1, "
        "dico_max_rank: 100, criterion_words: 100}, vecmap: {n_refinement: 1, "
        "dico_max_rank: 100, criterion_words: 100, init_vocab: 100, vocab_cutoff: 100, "
        "stochastic_interval: 2, max_iters: 10}, supervised: {criterion_words: 100}}",
    ]
    cmd = [sys.executable, "recipes/Bible/experiment/run_experiment.py",
           "recipes/Bible/experiment/hparams/default.yaml"] + overrides
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "out"
    results = json.loads((out / "results.json").read_text())["results"]
    rows = set(results["classification"])
    for row in ("A*", "A (adversarial)", "A (vecmap)", "B (adversarial)", "F (vecmap)",
                "units (adversarial)", "T*", "B_awe*"):
        assert row in rows, rows
    assert "F (adversarial)" not in rows  # row_methods: F runs vecmap only
    _check_scores(results, tmp_path / "data" / "speech" / "test.csv", out / "text_vectors")
    assert set(results["translation"]["A*"]) == {"es"}
    assert any(k.startswith("word classifier") for k in results["classifier"])
    table = (out / "results.md").read_text()
    assert "Spoken word classification" in table and "A (adversarial)" in table
    for png in ("speech2vec_loss.png", "classification_bars.png", "projection_A_supervised.png"):
        assert (out / "figures" / png).stat().st_size > 1000
    assert (out / "aligned_space" / "hyperparams.yaml").exists()
    assert "overlap@10" in (out / "diagnostics.md").read_text()
    # stage_workers 2 (default.yaml): the lanes' recipes wrote to their logs
    # (the command line in the log names number_of_epochs: look for the recipe's own output)
    assert "Going into epoch 1" in (out / "logs" / "speech2vec_words.log").read_text()
    timings = json.loads((out / "timings.json").read_text())
    assert {"acoustic word embeddings", "supervised word classifier", "wall_clock", "speech spaces",
            "alignment + evaluation", "diagnostics",
            "oracle T (skip-gram on the transcripts)"} <= set(timings)
    _check_oracle_types(tmp_path, out)
    _check_unit_vocabulary_benchmark(tmp_path, overrides)


def test_lanes_run_side_by_side_and_raise_the_first_error():
    import threading

    sys.path.insert(0, os.path.join(REPO, "recipes", "Bible", "experiment"))
    from run_experiment import _run_lanes

    both_running = threading.Barrier(2, timeout=30)  # passes only if the lanes overlap

    def a():
        both_running.wait()
        return "a"

    def b():
        both_running.wait()
        return "b"

    values = _run_lanes([[a], [b]], workers=2)
    assert values == {a: "a", b: "b"}
    finished = []

    def fails():
        raise RuntimeError("bad stage")

    def slow():
        finished.append("slow")

    with pytest.raises(RuntimeError, match="bad stage"):
        _run_lanes([[fails], [slow]], workers=2)
    assert finished == ["slow"]  # the other lane was not cut
    assert _run_lanes([[slow], [lambda: 1]], workers=1)[slow] is None


def _check_oracle_types(tmp_path, out):
    """T's vectors, trained in a lane and reused by the speech spaces, equal a fresh training."""
    import numpy as np

    from speechbrain_align.dataio.vectors import load_embeddings
    from speechbrain_align.evaluation import experiment as exp

    paths = exp.corpus_paths(str(tmp_path / "data"))
    # the override merges into default.yaml's skipgram, which adds runs: 5
    skipgram = {"dim": 50, "window": 5, "min_count": 2, "epochs": 1, "sample": 0.001, "runs": 5}
    kept = load_embeddings(out / "spaces" / "T_types.npz")
    fresh = exp.transcript_types(paths, str(tmp_path / "fresh"), skipgram, 1234)
    assert kept.words == fresh.words and np.array_equal(kept.vectors, fresh.vectors)
    written = load_embeddings(out / "spaces" / "T.vec")  # the space the alignment read
    assert written.words == kept.words
    assert np.allclose(written.vectors, kept.vectors, atol=1e-5)
    reused = exp.transcript_types(paths, str(tmp_path / "fresh"), skipgram, 1234)
    assert np.array_equal(reused.vectors, fresh.vectors)
    changed = exp.transcript_types(paths, str(tmp_path / "fresh"), dict(skipgram, dim=20), 1234)
    assert changed.vectors.shape[1] == 20  # other settings: trained again, not reused


def _check_unit_vocabulary_benchmark(tmp_path, overrides):
    """benchmarks/unit_vocabulary.py on the finished tiny experiment: rows, sizes, resume."""
    import yaml

    sys.path.insert(0, os.path.join(REPO, "benchmarks"))
    import unit_vocabulary

    keys = ("data_folder", "skipgram", "alignment_overrides")
    given = {o[2:].split("=", 1)[0]: o.split("=", 1)[1] for o in overrides}
    yaml_overrides = yaml.safe_dump({k: yaml.safe_load(given[k]) for k in keys})
    bench = str(tmp_path / "bench")
    args = ["--experiment", str(tmp_path / "out"), "--overrides", yaml_overrides,
            "--truncate", "20", "0", "--oracle_merge", "10", "--oracle_clean", "10",
            "--oracle_split", "10", "--label_free_merge", "10",
            "--merge", '{"rounds": 0, "min_cos": 2}',  # no pair reaches cosine 2: no merge
            "--methods", "vecmap", "--out", bench]
    unit_vocabulary.main(args)
    rows = json.loads(open(os.path.join(bench, "unit_vocabulary.json")).read())
    t_all = rows["T, all its types"]
    assert rows["T, its 20 most frequent types"]["n_types"] == 20 < t_all["n_types"]
    merged = rows["units K=10, oracle-merged by majority word"]
    # one type per majority word: at most K, fewer when units share a word
    assert merged["n_types"] == merged["majority_words"] <= 10
    # the clean row drops exactly the wrongly named segments from the sequences
    clean = rows["units K=10, oracle-merged, wrongly named segments left out"]
    assert 0 < merged["wrong_name"] == clean["wrong_name"] < 1
    assert clean["tokens"] == pytest.approx(merged["tokens"] * (1 - merged["wrong_name"]), abs=1)
    # the split row deals each word's units into two types: same tokens, same names' words
    split = rows["units K=10, oracle-merged, each word's units dealt into two types"]
    assert [split[k] for k in ("wrong_name", "tokens", "majority_words")] == [
        merged[k] for k in ("wrong_name", "tokens", "majority_words")]
    assert merged["n_types"] <= split["n_types"] <= min(10, 2 * merged["n_types"])
    # unmerged, the label-free row is the units themselves: each named by its own majority
    # word, as wrongly as the oracle merge names them, one type per unit
    free = rows["units K=10, merged without labels"]
    assert free["wrong_name"] == merged["wrong_name"] and free["tokens"] == merged["tokens"]
    assert merged["n_types"] <= free["n_types"] <= 10
    for bad in (["--merge", "{bogus: 1}"], ["--method_overrides", "{bogus: {k: 1}}"]):
        message = io.StringIO()
        with pytest.raises(SystemExit), contextlib.redirect_stderr(message):
            unit_vocabulary.main(args[:4] + ["--label_free_merge", "10", "--out", bench] + bad)
        assert f"{bad[0]}: " in message.getvalue() and "bogus" in message.getvalue()
    half = merged["tokens"] // 2
    unit_vocabulary.main(args[:4] + ["--tokens", str(half), "--methods", "vecmap", "--out", bench])
    part = json.loads(open(os.path.join(bench, "unit_vocabulary.json")).read())[
        f"T on {half} spoken tokens"]
    assert half <= part["tokens"] < merged["tokens"] and part["n_types"] <= t_all["n_types"]
    # the experiment's own units fixed by labels: splitting mixtures adds types, folding a
    # word's later types into its largest removes them
    with open(tmp_path / "out" / "units" / "units" / "assignment.csv", encoding="utf-8") as f:
        own = len({line.rsplit(",", 1)[1] for line in f.read().split()[1:]})
    fixed = {}
    for fix in ("mixtures", "secondary"):
        unit_vocabulary.main(args[:4] + ["--oracle_fix", "50", "--fix", fix, "--methods",
                                         "vecmap", "--out", bench])
        fixed[fix] = json.loads(open(os.path.join(bench, "unit_vocabulary.json")).read())[
            f"the experiment's units, {fix} of its 50 largest types fixed by labels"]
    mix = fixed["mixtures"]
    assert mix["n_types"] > own if mix["mixtures"] else mix["n_types"] == own
    folded = fixed["secondary"]
    assert folded["n_types"] == own - folded["folded_types"] and mix["tokens"] == merged["tokens"]
    for row in rows.values():
        for method in ("supervised", "vecmap"):
            assert 0 <= row[method]["top500_csls_P@1"] <= 100
    # T* on all types is the experiment's T* (same space, same YAML and overrides; the
    # benchmark reads T back from its 6-digit .vec file)
    results = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    assert t_all["supervised"]["token_csls_P@1"] == pytest.approx(
        results["classification"]["T*"]["same"]["csls_P@1"], abs=1.0)
    before = os.path.getmtime(os.path.join(bench, "unit_vocabulary.json"))
    unit_vocabulary.main(args)  # every row kept: the store is not rewritten
    assert os.path.getmtime(os.path.join(bench, "unit_vocabulary.json")) == before
    # fold_oracle on the same units: the tiny units hold no split type (no word has two
    # clean types), so no fold is made and the retrained space keeps every type; the
    # folds themselves are tested on a crafted assignment in test_benchmarks.py
    import fold_oracle

    fold_args = ["--experiment", str(tmp_path / "out"), "--overrides", yaml_overrides,
                 "--right", "1", "--wrong", "0", "1", "--methods", "vecmap", "--out", bench]
    fold_oracle.main(fold_args)
    folds = json.loads(open(os.path.join(bench, "fold_oracle.json")).read())
    assert sorted(folds) == ["right 1, wrong 0, same", "right 1, wrong 1, same"]
    for row in folds.values():
        assert row["n_types"] == own - row["right_folds"] - row["wrong_folds"]
    before = os.path.getmtime(os.path.join(bench, "fold_oracle.json"))
    fold_oracle.main(fold_args)  # both rows kept
    assert os.path.getmtime(os.path.join(bench, "fold_oracle.json")) == before


def _check_scores(results, test_csv, text_folder):
    """Scores that a wrong evaluation would get wrong, not just "in [0, 100]"."""
    with open(test_csv, encoding="utf-8") as handle:
        n_test = sum(1 for line in handle if line.strip()) - 1  # header
    for row, by_cond in results["classification"].items():
        for cond, cell in by_cond.items():
            # Every spoken test token is an item of every row; each is scored or skipped once.
            assert cell["n_items"] == n_test, (row, cond, cell)
            assert cell["n_scored"] + cell["n_skipped"] == cell["n_items"], (row, cond, cell)
            assert cell["n_skipped"] == cell["skipped_no_query"] + cell["skipped_no_gold"], cell
            for method in ("nn", "csls"):
                p1, p5 = cell[f"{method}_P@1"], cell[f"{method}_P@5"]
                assert p1 <= p5, (row, cond, cell)  # a hit in the top 1 is a hit in the top 5
                # P@k is a count of hits over n_scored, in percent.
                hits = p1 * cell["n_scored"] / 100.0
                assert abs(hits - round(hits)) < 1e-6, (row, cond, cell)
    # The supervised rows (mapping learnt from the gold dictionary) are far above what a
    # random mapping gets: 5 / |text vocabulary| for P@5 (about 0.06 % here).
    with open(text_folder / "same.vec", encoding="utf-8") as handle:
        n_text = int(handle.readline().split()[0])
    chance = 100.0 * 5 / n_text
    best = max(results["classification"][row]["same"]["csls_P@5"] for row in ("B*", "T*"))
    assert best > 20 * chance, (best, chance)
    for row in ("B*", "T*"):
        unsupervised = results["classification"][row.rstrip("*") + " (adversarial)"]["same"]
        assert results["classification"][row]["same"]["csls_P@5"] >= unsupervised["csls_P@5"], row


def test_speech2vec_clusters_are_made_once_per_segment_file(tmp_path):
    import numpy as np

    from speechbrain_align.dataio.vectors import Embeddings, load_embeddings, save_embeddings
    from speechbrain_align.evaluation.experiment import speech2vec_clusters
    from speechbrain_align.speech.units import read_assignment

    rng = np.random.default_rng(0)
    segments = tmp_path / "speech2vec_words" / "vectors" / "all_segments.npz"
    segments.parent.mkdir(parents=True)
    vectors = rng.normal(size=(60, 4)).astype(np.float32)
    save_embeddings(Embeddings([f"s{i}" for i in range(60)], vectors), str(segments))
    hp = {"kmeans_clusters": 5, "seed": 1}
    types, assignment = speech2vec_clusters(str(tmp_path), hp)
    assert len(load_embeddings(types)) == 5
    assert len(read_assignment(assignment)) == 60
    stamp = os.stat(types).st_mtime_ns
    speech2vec_clusters(str(tmp_path), hp)  # reused
    assert os.stat(types).st_mtime_ns == stamp
    speech2vec_clusters(str(tmp_path), dict(hp, kmeans_clusters=6))  # other settings: redone
    assert len(load_embeddings(types)) == 6
    before = load_embeddings(types).vectors.copy()
    save_embeddings(Embeddings([f"s{i}" for i in range(60)], vectors + 1), str(segments))
    speech2vec_clusters(str(tmp_path), dict(hp, kmeans_clusters=6))  # new segments: redone
    assert not np.allclose(load_embeddings(types).vectors, before)
    assert np.abs(load_embeddings(types).vectors.mean() - (vectors + 1).mean()) < 0.5
