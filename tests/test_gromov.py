"""Gromov-Wasserstein initialisation: the coupling, the seed dictionary, the ``gw``
method of the alignment pipeline and its recipe YAML."""

import importlib.util
import json
import pathlib

import numpy as np
import pytest
import torch

from speechbrain_align.alignment.gromov import (
    entropic_gromov_wasserstein, frequency_rank_cost, gromov_init, sinkhorn_potentials)
from speechbrain_align.alignment.mappings import AlignmentError, evaluate_mapping
from speechbrain_align.alignment.normalization import normalize_embeddings
from speechbrain_align.alignment.pipeline import align, check_options
from speechbrain_align.alignment.synthetic import synthetic_pair
from speechbrain_align.dataio.vectors import write_vec
from speechbrain_align.utils.errors import load_recipe_hparams

REPO = pathlib.Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "TextToText" / "alignment"


def _gw_hparams(folder, dim, **overrides):
    return load_recipe_hparams(RECIPE / "hparams" / "gw.yaml", dict(
        overrides, src_vec="-", tgt_vec="-", emb_dim=dim, output_folder=str(folder)))


def test_coupling_keeps_marginals_and_finds_a_noisy_permutation():
    rng = np.random.default_rng(0)
    x = normalize_embeddings(rng.normal(size=(80, 8)), ["unit"])
    perm = rng.permutation(80)
    y = x[perm] + 0.05 * rng.normal(size=x.shape)
    coupling, loss = entropic_gromov_wasserstein(x @ x.T, y @ y.T, epsilon=0.01)
    assert np.allclose(coupling.sum(1), 1 / 80, atol=1e-4)
    assert np.allclose(coupling.sum(0), 1 / 80, atol=1e-4)
    assert np.isfinite(loss)
    # row i of x is row argsort(perm)[i] of y
    assert np.mean(coupling.argmax(1) == np.argsort(perm)) > 0.9


def test_seed_dictionary_ignores_a_rotation():
    src, tgt, _ = synthetic_pair(300, 10, noise=0.0, n_clusters=15, seed=1)
    x = normalize_embeddings(src.vectors, ["unit", "center", "unit"])
    y = normalize_embeddings(tgt.vectors, ["unit", "center", "unit"])
    # tgt = src rotated: the matching sees the same similarities on both sides
    rotated = gromov_init(x, y, vocab=300, epsilon=0.005)
    assert np.mean(rotated[:, 0] == rotated[:, 1]) > 0.9
    assert len(rotated) >= 300


def test_gw_method_solves_easy_pair(tmp_path):
    src, tgt, _ = synthetic_pair(800, 20, noise=0.03, n_clusters=30, seed=3)
    src, tgt = src.sorted_by_count(), tgt.sorted_by_count()
    gold = np.array([[i, tgt.index[w]] for i, w in enumerate(src.words)])
    hp = _gw_hparams(tmp_path, 20, gw_vocab=300, gw_epsilon=0.005, stochastic_interval=3,
                     n_refinement=2, seed=1)
    w, log = align(src, tgt, hp)
    res = evaluate_mapping(src.vectors, tgt.vectors, w, gold, log["normalize"])
    assert res["csls_p@1"] > 0.95
    assert log["method"] == "gw" and log["gw_seconds"] > 0 and log["init_pairs"] >= 300
    with pytest.raises(AlignmentError, match="method gw needs .*gw_vocab"):
        align(src, tgt, {k: v for k, v in hp.items() if k != "gw_vocab"})


def test_recipe_runs_gw_yaml(tmp_path):
    src, tgt, _ = synthetic_pair(400, 12, noise=0.02, n_clusters=20, seed=4)
    write_vec(src, tmp_path / "src.vec")
    write_vec(tgt, tmp_path / "tgt.vec")
    (tmp_path / "dico.txt").write_text("".join(f"{w}\t{w}\n" for w in src.words))
    spec = importlib.util.spec_from_file_location("alignment_train", RECIPE / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "out"
    module.main([str(RECIPE / "hparams" / "gw.yaml"), f"--src_vec={tmp_path / 'src.vec'}",
                 f"--tgt_vec={tmp_path / 'tgt.vec'}", f"--dico_eval={tmp_path / 'dico.txt'}",
                 "--gw_vocab=200", "--gw_epsilon=0.005", "--stochastic_interval=2",
                 "--n_refinement=1", "--device=cpu", f"--output_folder={out}"])
    assert json.loads((out / "results.json").read_text())["csls_p@1"] > 0.95
    assert json.loads((out / "log.json").read_text())["method"] == "gw"


def test_frequency_term_matches_by_rank_when_similarities_say_nothing():
    rng = np.random.default_rng(2)
    # independent random similarity matrices: no structure shared by the two sides
    a, b = rng.normal(size=(60, 60)), rng.normal(size=(60, 60))
    c1, c2 = (a + a.T) / 20, (b + b.T) / 20
    plain, _ = entropic_gromov_wasserstein(c1, c2, epsilon=0.001)
    fused, _ = entropic_gromov_wasserstein(c1, c2, epsilon=0.001, alpha=0.5,
                                           feature_cost=frequency_rank_cost(60, 60))
    assert np.allclose(fused.sum(1), 1 / 60, atol=1e-4)

    def near(coupling):  # share of rows matched within 20% of their frequency rank
        ranks = np.log1p(np.arange(60))
        return np.mean(np.abs(np.log1p(coupling.argmax(1)) - ranks) < 0.2)

    assert near(fused) > 0.8 > 0.3 > near(plain)


def test_frequency_weight_outside_unit_interval_is_one_error(tmp_path):
    hp = _gw_hparams(tmp_path, 8, gw_frequency_weight=1.5)
    with pytest.raises(AlignmentError, match=r"gw_frequency_weight: 1.5 is not in \[0, 1\]"):
        check_options(hp)


def test_count_marginals_match_a_word_split_in_two():
    rng = np.random.default_rng(0)
    n, split = 60, 20
    z = normalize_embeddings(rng.normal(size=(n, 8)), ["unit"])
    counts = np.round(1000 / np.arange(1, n + 1))
    rows = np.array(list(range(n)) + list(range(split)))  # the 20 most frequent words twice
    src_counts = np.concatenate([counts[:split] / 2, counts[split:], counts[:split] / 2])
    x = normalize_embeddings(z[rows] + 0.03 * rng.normal(size=(len(rows), 8)), ["unit"])
    uniform, _ = entropic_gromov_wasserstein(x @ x.T, z @ z.T, epsilon=0.005)
    massed, _ = entropic_gromov_wasserstein(x @ x.T, z @ z.T, epsilon=0.005, p=src_counts,
                                            q=counts)
    assert np.allclose(massed.sum(1), src_counts / src_counts.sum(), atol=1e-4)
    assert np.mean(massed.argmax(1) == rows) > 0.95 > 0.5 > np.mean(uniform.argmax(1) == rows)
    with pytest.raises(ValueError, match="expected 80 positive weights"):
        entropic_gromov_wasserstein(x @ x.T, z @ z.T, p=-src_counts)


def test_mass_power_needs_counts_and_a_non_negative_power(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 8)).astype("float32")
    hp = _gw_hparams(tmp_path, 8, gw_mass_power=1.0)
    with pytest.raises(AlignmentError, match="source: gw_mass_power > 0 needs word counts"):
        align(x, x, hp)
    with pytest.raises(AlignmentError, match="gw_mass_power: -1.0 is negative"):
        check_options(dict(hp, gw_mass_power=-1.0))


def test_gw_method_with_count_marginals_solves_easy_pair(tmp_path):
    src, tgt, _ = synthetic_pair(600, 16, noise=0.03, n_clusters=25, seed=5)
    src, tgt = src.sorted_by_count(), tgt.sorted_by_count()
    assert src.counts is not None
    gold = np.array([[i, tgt.index[w]] for i, w in enumerate(src.words)])
    hp = _gw_hparams(tmp_path, 16, gw_vocab=300, gw_epsilon=0.005, gw_mass_power=0.5,
                     stochastic_interval=3, n_refinement=2, seed=1)
    w, log = align(src, tgt, hp)
    assert evaluate_mapping(src.vectors, tgt.vectors, w, gold, log["normalize"])["csls_p@1"] > 0.95


@pytest.mark.parametrize("bound", [1e30, 1e3, 1.5])  # 1.5: absorbed at every step
@pytest.mark.parametrize("n_iters, tol", [(200, 0.0), (200, 1e-6), (1, 0.0)])
def test_scaling_sinkhorn_equals_the_log_domain_recurrence(bound, n_iters, tol):
    rng = np.random.default_rng(3)
    # a small epsilon: exp(kernel) alone underflows to 0 in float64
    kernel = torch.as_tensor(-(1.0 + rng.random((40, 30))) / 1e-3)
    log_p = torch.as_tensor(np.log(rng.dirichlet(np.ones(40))))
    log_q = torch.as_tensor(np.log(rng.dirichlet(np.ones(30))))
    f0, g0 = torch.zeros(40, dtype=torch.float64), torch.zeros(30, dtype=torch.float64)
    assert float(torch.exp(kernel).max()) == 0.0
    want = sinkhorn_potentials(kernel, log_p, log_q, f0, g0, n_iters, tol, scaling=False)
    got = sinkhorn_potentials(kernel, log_p, log_q, f0, g0, n_iters, tol, bound=bound)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, rtol=0, atol=1e-8)
