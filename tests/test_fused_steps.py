"""The fused (numpy) adversarial updates against autograd's."""

import copy
import logging
import pathlib

import numpy as np
import pytest
import torch

from speechbrain_align.alignment.fused_steps import FusedSteps, fused_support
from speechbrain_align.alignment.pipeline import align
from speechbrain_align.alignment.synthetic import synthetic_pair
from speechbrain_align.nnet.discriminator import Discriminator
from speechbrain_align.nnet.mapping import LinearMapping
from speechbrain_align.utils.errors import load_recipe_hparams

MUSE = pathlib.Path(__file__).resolve().parents[1] / "recipes/TextToText/alignment/hparams/muse.yaml"


def _modules(dim=6, hidden=16, layers=2, dropout=0.3, seed=0):
    torch.manual_seed(seed)
    return (Discriminator(dim, hidden, layers, input_dropout=dropout, leaky_slope=0.2),
            LinearMapping(dim, init="random"))


@pytest.mark.parametrize("layers", [0, 1, 2])
def test_fused_updates_equal_autograd(layers):
    dis, mapping = _modules(layers=layers)
    dis_ref, map_ref = copy.deepcopy(dis), copy.deepcopy(mapping)
    fused = FusedSteps(dis, mapping)
    rng = np.random.default_rng(1)
    src = rng.standard_normal((10, 6)).astype(np.float32)
    real = rng.standard_normal((12, 6)).astype(np.float32)
    uniform = rng.random((22, 6)).astype(np.float32)
    for _ in range(3):  # three steps: later ones start from updated weights
        # autograd, with the same input dropout mask applied by hand
        fake = map_ref(torch.from_numpy(src)).detach()
        keep = torch.from_numpy(uniform >= 0.3).float() / 0.7
        logits = dis_ref.net[1:](torch.cat([fake, torch.from_numpy(real)]) * keep).squeeze(-1)
        labels = torch.cat([torch.full((10,), 0.1), torch.full((12,), 0.9)])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        opt = torch.optim.SGD(dis_ref.parameters(), lr=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        correct = int((logits[:10] <= 0).sum() + (logits[10:] > 0).sum())
        got_loss, got_correct = fused.discriminator_step(
            src @ fused.map_weight.T, real, uniform, 0.1, lr=0.5)
        assert got_loss == pytest.approx(float(loss.detach()), abs=1e-6)
        assert got_correct == correct
        for a, b in zip(dis_ref.parameters(), dis.parameters()):
            np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), atol=1e-6)
        # mapping update through the discriminator in evaluation mode
        dis_ref.eval()
        map_loss = torch.nn.functional.binary_cross_entropy_with_logits(
            dis_ref(map_ref(torch.from_numpy(src))), torch.full((10,), 0.9))
        map_opt = torch.optim.SGD(map_ref.parameters(), lr=1.0)
        map_opt.zero_grad()
        map_loss.backward()
        map_opt.step()
        dis_ref.train()
        assert fused.mapping_step(src, 0.1, lr=1.0) == pytest.approx(float(map_loss.detach()), abs=1e-6)
        np.testing.assert_allclose(mapping.weight.detach().numpy(),
                                   map_ref.weight.detach().numpy(), atol=1e-6)
    assert not np.allclose(mapping.weight.detach().numpy(), np.eye(6), atol=1e-3)


def test_fused_support_names_what_it_cannot_do():
    dis, mapping = _modules()
    sgd = [torch.optim.SGD(dis.parameters(), lr=0.1)]
    assert fused_support(dis, mapping, sgd) is None
    assert "momentum" in fused_support(
        dis, mapping, [torch.optim.SGD(dis.parameters(), lr=0.1, momentum=0.9)])
    assert "Adam" in fused_support(dis, mapping, [torch.optim.Adam(dis.parameters())])
    hidden = Discriminator(6, 16, 2, hidden_dropout=0.1)
    assert fused_support(hidden, mapping, sgd) == "hidden dropout"
    assert "MLP" in fused_support(torch.nn.Linear(6, 1), mapping, sgd)
    assert "float32" in fused_support(dis.double(), mapping, sgd)


def _run(folder, n_epochs=2, **overrides):
    src, tgt, _ = synthetic_pair(300, 8, noise=0.02, n_clusters=10, seed=0)
    hp = load_recipe_hparams(MUSE, dict(
        src_vec="-", tgt_vec="-", emb_dim=8, output_folder=str(folder), n_epochs=n_epochs,
        epoch_size=20, batch_size=16, dis_steps=2, max_rank=200, dis_hidden=16,
        n_refinement=0, criterion_words=200, seed=0, **overrides))
    return align(src, tgt, hp)


def test_fused_and_autograd_brains_train_alike(tmp_path):
    """Without input dropout (the one random draw that differs) both runs are the same."""
    w_fused, log_fused = _run(tmp_path / "f", dis_input_dropout=0.0)
    w_auto, log_auto = _run(tmp_path / "a", dis_input_dropout=0.0, fused_updates=False)
    np.testing.assert_allclose(w_fused, w_auto, atol=1e-4)
    for a, b in zip(log_fused["adversarial"]["epochs"], log_auto["adversarial"]["epochs"]):
        assert a["dis_acc"] == b["dis_acc"]
        assert a["dis_loss"] == pytest.approx(b["dis_loss"], abs=1e-5)
        assert a["map_loss"] == pytest.approx(b["map_loss"], abs=1e-5)
    assert not np.allclose(w_fused, np.eye(8), atol=1e-3)


def test_fused_run_resumes_exactly_and_falls_back_when_unsupported(tmp_path, caplog):
    whole, _ = _run(tmp_path / "whole", n_epochs=3)
    _run(tmp_path / "killed", n_epochs=1)  # "killed" after epoch 1, then resumed
    resumed, log = _run(tmp_path / "killed", n_epochs=3)
    assert [e["epoch"] for e in log["adversarial"]["epochs"]] == [2, 3]
    np.testing.assert_allclose(resumed, whole, atol=1e-6)
    with caplog.at_level(logging.INFO, logger="speechbrain_align.alignment.adversarial"):
        w, _ = _run(tmp_path / "hidden", n_epochs=1, dis_dropout=0.1)
    assert "autograd instead (hidden dropout)" in caplog.text
    assert np.isfinite(w).all()
