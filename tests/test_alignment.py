"""Alignment stage: Procrustes, dictionary induction, criterion, vecmap,
adversarial Brain (runs, checkpoints, resumes), the recipe and bad inputs."""

import importlib.util
import json
import os
import pathlib

import numpy as np
import pytest
import scipy.linalg
import torch

from speechbrain_align.alignment.criterion import mean_cosine_criterion
from speechbrain_align.alignment.induction import build_dictionary
from speechbrain_align.alignment.normalization import normalize_embeddings
from speechbrain_align.alignment.mappings import (
    AlignmentError,
    dictionary_indices,
    evaluate_mapping,
    load_mapping,
    load_vector_pair,
    save_mapping,
)
from speechbrain_align.alignment.pipeline import align, check_options
from speechbrain_align.alignment.procrustes import procrustes
from speechbrain_align.alignment.refinement import refine
from speechbrain_align.alignment.synthetic import synthetic_pair
from speechbrain_align.dataio.dictionaries import (
    DictionaryError,
    read_muse_dictionary,
    split_dictionary,
)
from speechbrain_align.dataio.vectors import Embeddings, write_vec
from speechbrain_align.utils.errors import load_recipe_hparams

REPO = pathlib.Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "TextToText" / "alignment"
YAML = {"adversarial": "muse.yaml", "vecmap": "vecmap.yaml", "supervised": "supervised.yaml"}


def _hparams(method, folder, dim, **overrides):
    """The recipe's YAML for ``method`` with ``overrides`` (as the recipe and the experiment load it)."""
    return load_recipe_hparams(RECIPE / "hparams" / YAML[method], dict(
        overrides, src_vec="-", tgt_vec="-", emb_dim=dim, output_folder=str(folder)))


def _rotation(dim, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


@pytest.fixture(scope="module")
def easy_pair():
    src, tgt, q = synthetic_pair(800, 20, noise=0.03, n_clusters=30, seed=3)
    src, tgt = src.sorted_by_count(), tgt.sorted_by_count()
    gold = np.array([[i, tgt.index[w]] for i, w in enumerate(src.words)])
    return src, tgt, q, gold


def test_procrustes_recovers_a_known_rotation_exactly():
    rng = np.random.default_rng(0)
    q = _rotation(12, 1)
    x = rng.normal(size=(100, 12))
    w = procrustes(x, x @ q.T)
    assert np.abs(w - q).max() < 1e-5
    assert np.abs(w @ w.T - np.eye(12)).max() < 1e-5
    # with noise it is still the least-squares rotation: better than the truth on the data
    y = x @ q.T + 0.1 * rng.normal(size=x.shape)
    w = procrustes(x, y)
    assert np.linalg.norm(x @ w.T - y) <= np.linalg.norm(x @ q.T - y) + 1e-6
    with pytest.raises(ValueError, match="rows"):
        procrustes(x, y[:5])


def test_mutual_csls_dictionary_on_a_known_case():
    rng = np.random.default_rng(0)
    tgt = normalize_embeddings(rng.normal(size=(50, 10)), ["unit"])
    perm = rng.permutation(50)
    src = normalize_embeddings(tgt[perm] + 0.01 * rng.normal(size=(50, 10)), ["unit"])
    d = build_dictionary(src, tgt, mode="mutual", max_rank=50)
    assert len(d) == 50 and (perm[d[:, 0]] == d[:, 1]).all()
    # a hub: target 0 is near every source word; CSLS mutual NN must not pair it widely
    tgt2 = tgt.copy()
    tgt2[0] = normalize_embeddings(src.mean(0, keepdims=True), ["unit"])[0]
    nn_s2t = build_dictionary(src, tgt2, mode="s2t", method="nn", max_rank=50)
    mutual = build_dictionary(src, tgt2, mode="mutual", max_rank=50)
    assert len(set(mutual[:, 0])) == len(mutual) and len(set(mutual[:, 1])) == len(mutual)
    assert (perm[mutual[:, 0]] == mutual[:, 1]).mean() > 0.95
    assert len(nn_s2t) == 50
    # max_rank restricts both sides to the most frequent rows
    small = build_dictionary(src, tgt, mode="union", max_rank=10)
    assert small.max() < 10
    with pytest.raises(ValueError, match="unknown dictionary mode"):
        build_dictionary(src, tgt, mode="both")


def test_criterion_higher_for_true_mapping_than_random(easy_pair):
    src, tgt, q, _ = easy_pair
    x = normalize_embeddings(src.vectors)
    y = normalize_embeddings(tgt.vectors)
    w_true = procrustes(x, y[[tgt.index[w] for w in src.words]])
    true = mean_cosine_criterion(x @ w_true.T, y, n_words=500)
    rand = mean_cosine_criterion(x @ _rotation(20, 7).T, y, n_words=500)
    assert true > 0.95 and true > rand + 0.2


def test_supervised_solves_easy_pair_and_test_is_held_out(easy_pair, tmp_path):
    src, tgt, _, gold = easy_pair
    gold_words = [(src.words[i], tgt.words[j]) for i, j in gold]
    train, test = (dictionary_indices(part, src.words, tgt.words)
                   for part in split_dictionary(gold_words, 0.5, seed=0))
    assert not set(train[:, 0]) & set(test[:, 0])
    hp = _hparams("supervised", tmp_path, 20)
    w, log = align(src, tgt, hp, train_pairs=train)
    res = evaluate_mapping(src.vectors, tgt.vectors, w, test, log["normalize"])
    assert res["nn_p@1"] > 0.95 and res["csls_p@1"] > 0.95
    # word pairs work too with Embeddings inputs
    words = [(src.words[i], tgt.words[j]) for i, j in train]
    w2, _ = align(src, tgt, hp, train_pairs=words)
    assert np.allclose(w, w2, atol=1e-5)


def test_refinement_solves_easy_pair_from_rough_start(easy_pair):
    src, tgt, _, gold = easy_pair
    x, y = normalize_embeddings(src.vectors), normalize_embeddings(tgt.vectors)
    w_true = procrustes(x[gold[:, 0]], y[gold[:, 1]])
    a = np.random.default_rng(0).normal(size=(20, 20)) * 0.2
    rough = scipy.linalg.expm(a - a.T) @ w_true  # a rotation away from the truth
    start = evaluate_mapping(src.vectors, tgt.vectors, rough, gold)["csls_p@1"]
    assert start < 0.3
    w, log = refine(x, y, rough, n_iters=3, criterion_words=500)
    end = evaluate_mapping(src.vectors, tgt.vectors, w, gold)["csls_p@1"]
    assert end > 0.95 and end > start
    assert log[-1]["criterion"] >= log[0]["criterion"]


def test_refinement_phases_continue_from_the_best_iterate(easy_pair, tmp_path):
    src, tgt, _, gold = easy_pair
    x, y = normalize_embeddings(src.vectors), normalize_embeddings(tgt.vectors)
    a = np.random.default_rng(1).normal(size=(20, 20)) * 0.3
    rough = scipy.linalg.expm(a - a.T) @ procrustes(x[gold[:, 0]], y[gold[:, 1]])
    kw = dict(n_iters=2, criterion_words=500, dico_max_rank=300)
    w1, log1 = refine(x, y, rough, dico_mode="mutual", **kw)
    w2, log2 = refine(x, y, rough, dico_mode=["mutual", "union"], **kw)
    # phase 1 is the single-mode run; phase 2 follows it and never loses its best
    assert [e["mode"] for e in log2[:3]] == [None, "mutual", "mutual"]
    assert {e["mode"] for e in log2[3:]} == {"union"} and len(log2) > 3
    assert [e["criterion"] for e in log2[:3]] == [e["criterion"] for e in log1]
    crit = lambda w: mean_cosine_criterion(x @ w.T, y, 500, 10)  # noqa: E731
    assert crit(w2) == pytest.approx(max(e["criterion"] for e in log2))
    assert crit(w2) >= crit(w1)
    with pytest.raises(AlignmentError, match="dico_mode: unknown 'both'"):
        align(x, y, _hparams("vecmap", tmp_path, 20, dico_mode=["mutual", "both"]))


def test_vecmap_solves_easy_pair(easy_pair, tmp_path):
    src, tgt, _, gold = easy_pair
    w, log = align(src, tgt, _hparams("vecmap", tmp_path, 20, stochastic_interval=3,
                                      n_refinement=2, seed=1))
    res = evaluate_mapping(src.vectors, tgt.vectors, w, gold, log["normalize"])
    assert res["csls_p@1"] > 0.95
    assert log["self_learning"]["iterations"] > 3


def _tiny_adversarial(folder, n_epochs):
    src, tgt, _ = synthetic_pair(300, 8, noise=0.02, n_clusters=10, seed=0)
    hp = _hparams("adversarial", folder, 8, n_epochs=n_epochs, epoch_size=15, batch_size=16,
                  dis_steps=2, max_rank=200, dis_hidden=16, n_refinement=1,
                  criterion_words=200, seed=0)
    return align(src, tgt, hp)


def test_adversarial_brain_runs_checkpoints_and_resumes(tmp_path):
    w, log = _tiny_adversarial(tmp_path, n_epochs=1)
    assert w.shape == (8, 8) and np.isfinite(w).all()
    epochs = log["adversarial"]["epochs"]
    assert [e["epoch"] for e in epochs] == [1]
    for key in ("dis_acc", "dis_loss", "criterion"):
        assert np.isfinite(epochs[0][key])
    ckpts = [p for p in os.listdir(tmp_path / "save") if p.startswith("CKPT")]
    assert ckpts
    # "killed" after epoch 1: a rerun with a 3-epoch budget continues at epoch 2
    _, log2 = _tiny_adversarial(tmp_path, n_epochs=3)
    assert [e["epoch"] for e in log2["adversarial"]["epochs"]] == [2, 3]
    lines = (tmp_path / "train_log.txt").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["epoch: 1", "epoch: 2", "epoch: 3"]
    best = max(e["criterion"] for e in log2["adversarial"]["epochs"] + epochs)
    assert log2["adversarial"]["best_criterion"] == pytest.approx(best)


def test_bad_inputs_are_named(tmp_path):
    a, b = tmp_path / "a.vec", tmp_path / "b.vec"
    write_vec(Embeddings(["x", "y"], np.eye(2)), a)
    write_vec(Embeddings(["x", "y"], np.ones((2, 3))), b)
    with pytest.raises(AlignmentError, match=r"a\.vec has dimension 2 but .*b\.vec has dimension 3"):
        load_vector_pair(a, b)
    with pytest.raises(AlignmentError, match=r"src\.vec: vocabulary of 50 words .* max_rank=100"):
        align(np.random.rand(50, 4), np.random.rand(60, 4),
              _hparams("adversarial", tmp_path / "o", 4, max_rank=100), names=("src.vec", "tgt.vec"))
    dico = tmp_path / "d.txt"
    dico.write_text("p\tq\nr\ts\n")
    with pytest.raises(AlignmentError, match=r"d\.txt: no pair has both words"):
        dictionary_indices(read_muse_dictionary(dico), ["x", "y"], ["x", "y"], str(dico))
    dico.write_text("x\ty\nonly-one\n")
    with pytest.raises(DictionaryError, match=r"d\.txt:2: expected"):
        read_muse_dictionary(dico)
    supervised = _hparams("supervised", tmp_path / "o", 3)
    with pytest.raises(AlignmentError, match="method"):
        align(np.eye(3), np.eye(3), dict(supervised, method="magic"))
    with pytest.raises(AlignmentError, match="train_pairs"):
        align(np.eye(3), np.eye(3), supervised)
    # a dict without a key the method reads: named, no default stands in
    with pytest.raises(AlignmentError, match="method vecmap needs .*init_vocab"):
        align(np.eye(3), np.eye(3), dict(supervised, method="vecmap"))
    bad = tmp_path / "m.npy"
    bad.write_text("not numpy")
    with pytest.raises(AlignmentError, match=r"m\.npy"):
        load_mapping(bad)


def test_save_mapping_roundtrip(tmp_path):
    w = _rotation(5, 0)
    save_mapping(w, tmp_path / "w.npy")
    assert np.allclose(load_mapping(tmp_path / "w.npy"), w, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["w.npy"]


def _run_recipe(hparams, *args):
    """Run the recipe's ``main`` in this process (a subprocess would pay the imports again)."""
    spec = importlib.util.spec_from_file_location("alignment_train", RECIPE / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([str(RECIPE / "hparams" / hparams), *args])


def test_recipe_supervised_and_vecmap_end_to_end(tmp_path, easy_pair):
    src, tgt, _, _ = easy_pair
    write_vec(src, tmp_path / "src.vec")
    write_vec(tgt, tmp_path / "tgt.vec")
    with open(tmp_path / "dico.txt", "w") as f:
        f.writelines(f"{w}\t{w}\n" for w in src.words)
    common = [f"--src_vec={tmp_path / 'src.vec'}", f"--tgt_vec={tmp_path / 'tgt.vec'}",
              f"--dico_eval={tmp_path / 'dico.txt'}", "--device=cpu"]
    for hp, extra in (("supervised.yaml", []),
                      ("vecmap.yaml", ["--stochastic_interval=2", "--n_refinement=1",
                                       "--init_vocab=400"])):
        out = tmp_path / hp.split(".")[0]
        _run_recipe(hp, *common, *extra, f"--output_folder={out}")
        res = json.loads((out / "results.json").read_text())
        assert res["csls_p@1"] > 0.95 and res["nn_p@1"] > 0.9
        assert res["test_pairs"] == 400  # half of the 800 source words held out
        assert np.load(out / "mapping.npy").shape == (20, 20)
        assert json.loads((out / "log.json").read_text())["method"] == hp.split(".")[0]


def test_recipe_reports_dimension_mismatch(tmp_path):
    write_vec(Embeddings(["x", "y"], np.eye(2)), tmp_path / "a.vec")
    write_vec(Embeddings(["x", "y"], np.ones((2, 3))), tmp_path / "b.vec")
    with pytest.raises(AlignmentError, match=r"a\.vec has dimension 2 but .*b\.vec has dimension 3"):
        _run_recipe("muse.yaml", f"--src_vec={tmp_path / 'a.vec'}",
                    f"--tgt_vec={tmp_path / 'b.vec'}", f"--output_folder={tmp_path / 'o'}")


def test_recipe_muse_yaml_runs_logs_and_checkpoints(tmp_path, easy_pair):
    src, tgt, _, _ = easy_pair
    write_vec(src, tmp_path / "src.vec")
    write_vec(tgt, tmp_path / "tgt.vec")
    out = tmp_path / "muse"
    _run_recipe("muse.yaml", f"--src_vec={tmp_path / 'src.vec'}",
                f"--tgt_vec={tmp_path / 'tgt.vec'}", f"--output_folder={out}", "--device=cpu",
                "--n_epochs=2", "--epoch_size=5", "--max_rank=200", "--dis_hidden=8",
                "--n_refinement=1", "--criterion_words=200")
    lines = (out / "train_log.txt").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["epoch: 1", "epoch: 2"]
    assert "train criterion" in lines[0] and "train dis_acc" in lines[0]
    assert any(p.name.startswith("CKPT") for p in (out / "save").iterdir())
    log = json.loads((out / "log.json").read_text())
    assert log["method"] == "adversarial" and len(log["adversarial"]["epochs"]) == 2
    assert np.load(out / "mapping.npy").shape == (20, 20)
    assert not (out / "results.json").exists()  # no evaluation dictionary given


def test_batch_sampler_epochs_do_not_repeat_batches():
    """Seeds of (epoch, i) must not collide: item i+7919 of one epoch once equalled item i of the next."""
    import torch

    from speechbrain_align.alignment.adversarial import BatchSampler

    sampler = BatchSampler(10000, 32, 5, 1000, 1000, seed=1)
    sampler.set_epoch(1)
    later = sampler[7919]["src"]
    sampler.set_epoch(2)
    assert not torch.equal(later, sampler[0]["src"])
    sampler.set_epoch(1)
    assert torch.equal(later, sampler[7919]["src"])  # still deterministic


def test_recipe_restarts_keep_the_run_with_the_best_criterion(tmp_path):
    src, tgt, _ = synthetic_pair(300, 8, noise=0.02, n_clusters=10, seed=0)
    write_vec(src, tmp_path / "src.vec")
    write_vec(tgt, tmp_path / "tgt.vec")
    common = [f"--src_vec={tmp_path / 'src.vec'}", f"--tgt_vec={tmp_path / 'tgt.vec'}",
              "--n_epochs=1", "--epoch_size=10", "--batch_size=16", "--dis_steps=2",
              "--max_rank=200", "--dis_hidden=16", "--n_refinement=0", "--criterion_words=200"]
    _run_recipe("muse.yaml", *common, "--seed=5", "--restarts=3",
                f"--output_folder={tmp_path / 'r'}")
    log = json.loads((tmp_path / "r" / "log.json").read_text())
    crits = [r["criterion"] for r in log["restarts"]]
    assert [r["seed"] for r in log["restarts"]] == [5, 6, 7]
    assert len(set(np.round(crits, 6))) > 1  # the restarts did differ
    assert log["criterion"] == pytest.approx(max(crits), abs=1e-6)
    assert log["seed"] == 5 + int(np.argmax(crits))
    assert (tmp_path / "r" / "restart2" / "train_log.txt").exists()
    # the kept run is the single run from its seed (each restart reloads the YAML)
    _run_recipe("muse.yaml", *common, f"--seed={log['seed']}",
                f"--output_folder={tmp_path / 'single'}")
    np.testing.assert_allclose(np.load(tmp_path / "single" / "mapping.npy"),
                               np.load(tmp_path / "r" / "mapping.npy"), atol=1e-6)


def test_adversarial_recovers_a_known_rotation(easy_pair, tmp_path):
    src, tgt, q, gold = easy_pair
    # seed 1: seed 0 succeeds with the default BLAS threads but lands on a wrong rotation
    # with OMP_NUM_THREADS=1 (a trajectory that rounding decides); seeds 1-3 succeed both ways
    hp = {"n_epochs": 5, "epoch_size": 500, "batch_size": 32, "dis_steps": 5, "max_rank": 500,
          "dis_hidden": 128, "map_orthogonalize": "svd", "map_lr": 1.0, "n_refinement": 3,
          "criterion_words": 500, "dico_max_rank": 500, "seed": 1}
    w, log = align(src, tgt, _hparams("adversarial", tmp_path / "a", 20, **hp))
    res = evaluate_mapping(src.vectors, tgt.vectors, w, gold, log["normalize"])
    assert res["csls_p@1"] > 0.95
    identity = evaluate_mapping(src.vectors, tgt.vectors, np.eye(20), gold, log["normalize"])
    assert identity["csls_p@1"] < 0.2  # the rotation had to be learned
    # negative control: the same refinement without adversarial epochs (from the
    # untrained identity mapping) must not find the rotation
    steps = log["normalize"]
    x, y = normalize_embeddings(src.vectors, steps), normalize_embeddings(tgt.vectors, steps)
    untrained, _ = refine(x, y, np.eye(20, dtype=np.float32), n_iters=3, dico_max_rank=500,
                          criterion_words=500)
    control = evaluate_mapping(src.vectors, tgt.vectors, untrained, gold, steps)
    assert control["csls_p@1"] < 0.2


def test_adversarial_then_self_learning(easy_pair, tmp_path):
    """Self-learning seeded by a briefly trained adversarial mapping finds the rotation
    that the refinement alone misses from the same mapping."""
    src, tgt, q, gold = easy_pair
    hp = {"n_epochs": 1, "epoch_size": 200, "max_rank": 500, "dis_hidden": 128,
          "map_orthogonalize": "svd", "n_refinement": 3, "criterion_words": 500, "seed": 0}
    sl = {"self_learning_iters": 30, "vocab_cutoff": 800, "stochastic_interval": 3}
    w0, log0 = align(src, tgt, _hparams("adversarial", tmp_path / "a", 20, **hp))
    w, log = align(src, tgt, _hparams("adversarial", tmp_path / "b", 20, **hp, **sl))
    before = evaluate_mapping(src.vectors, tgt.vectors, w0, gold, log0["normalize"])
    after = evaluate_mapping(src.vectors, tgt.vectors, w, gold, log["normalize"])
    assert before["csls_p@1"] < 0.5 and after["csls_p@1"] > 0.95
    assert "self_learning" not in log0
    assert log["self_learning"]["iterations"] == 30 and log["init_pairs"] > 0
    # the self-learning keys are required only when the stage runs
    bad = dict(_hparams("adversarial", tmp_path / "c", 20, **hp, **sl))
    del bad["keep_prob"]
    with pytest.raises(AlignmentError, match="method adversarial needs keep_prob"):
        align(src, tgt, bad)
    check_options(dict(bad, self_learning_iters=0))
