"""LinearMapping (orthogonalisation) and the discriminator."""

import pytest
import torch

from speechbrain_align.nnet.discriminator import Discriminator
from speechbrain_align.nnet.mapping import LinearMapping


def test_orthogonalize_keeps_an_orthogonal_matrix_orthogonal():
    torch.manual_seed(0)
    m = LinearMapping(20, init="random")
    for _ in range(50):
        m.orthogonalize(0.01)
    eye = torch.eye(20)
    assert torch.allclose(m.weight @ m.weight.T, eye, atol=1e-5)


def test_orthogonalize_pulls_a_perturbed_matrix_back():
    torch.manual_seed(0)
    m = LinearMapping(20, init="random")
    with torch.no_grad():
        m.weight.add_(0.05 * torch.randn(20, 20))
    eye = torch.eye(20)
    before = (m.weight @ m.weight.T - eye).abs().max().item()
    for _ in range(300):
        m.orthogonalize(0.05)
    after = (m.weight @ m.weight.T - eye).abs().max().item()
    assert before > 0.05
    assert after < 1e-4


def _train_towards_scaled_identity(beta):
    torch.manual_seed(0)
    m = LinearMapping(10)
    opt = torch.optim.SGD(m.parameters(), lr=0.05)
    for _ in range(100):
        x = torch.randn(16, 10)
        loss = (m(x) - 1.5 * x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        m.orthogonalize(beta)
    return (m.weight @ m.weight.T - torch.eye(10)).abs().max().item()


def test_orthogonalize_counteracts_gradient_steps():
    # the loss wants W = 1.5 I; orthogonalisation keeps W W^T near I
    assert _train_towards_scaled_identity(0.0) > 0.5
    assert _train_towards_scaled_identity(0.1) < 0.6 * _train_towards_scaled_identity(0.0)


def test_mapping_identity_rectangular_and_errors():
    m = LinearMapping(3, 5)
    assert m.weight.shape == (5, 3)
    assert torch.equal(m(torch.eye(3))[:, :3], torch.eye(3))
    with pytest.raises(ValueError, match="unknown init"):
        LinearMapping(3, init="zeros")
    with pytest.raises(ValueError, match="expected"):
        m.set_weight(torch.eye(3))


def test_discriminator_layers_and_output():
    d = Discriminator(6, hidden_size=7, n_layers=3, input_dropout=0.5, leaky_slope=0.1)
    linears = [layer for layer in d.net if isinstance(layer, torch.nn.Linear)]
    assert [lin.out_features for lin in linears] == [7, 7, 7, 1]
    d.eval()
    out = d(torch.randn(4, 6))
    assert out.shape == (4,)


def test_discriminator_learns_to_separate_shifted_clouds():
    torch.manual_seed(0)
    d = Discriminator(4, hidden_size=16, n_layers=1, input_dropout=0.0)
    opt = torch.optim.SGD(d.parameters(), lr=0.2)
    for _ in range(200):
        real, fake = torch.randn(32, 4) + 1.0, torch.randn(32, 4) - 1.0
        logits = d(torch.cat([fake, real]))
        labels = torch.cat([torch.zeros(32), torch.ones(32)])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    d.eval()
    acc = ((d(torch.randn(200, 4) + 1) > 0).float().mean() + (d(torch.randn(200, 4) - 1) < 0).float().mean()) / 2
    assert acc > 0.9
