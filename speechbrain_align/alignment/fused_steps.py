"""The adversarial updates written out in numpy, for small models on a CPU.

With a 50-d mapping and a 50-128-128-1 discriminator, one autograd update
(forward, backward, ``optimizer.step``) spends most of its time in
framework overhead rather than in its few small matrix products. This module
computes the same SGD updates (binary cross-entropy with smoothed labels
through ``Dropout -> (Linear, LeakyReLU) x n -> Linear``) with the gradients
written out, in place on numpy views of the modules' parameters, so
checkpoints, the learning-rate schedule and the modules themselves stay as
they are. ``python benchmarks/adversarial_steps.py`` compares both.
"""

import numpy as np
import torch

from speechbrain_align.nnet.discriminator import Discriminator


def fused_support(discriminator, mapping, optimizers):
    """Why the fused updates cannot stand in for autograd here (None if they can).

    They need the CPU, plain SGD (no momentum, no weight decay) and this
    project's :class:`Discriminator` without hidden dropout.

    Example
    -------
    >>> from speechbrain_align.nnet.mapping import LinearMapping
    >>> d, m = Discriminator(4, 8, 2), LinearMapping(4)
    >>> opts = [torch.optim.SGD(d.parameters(), lr=0.1)]
    >>> print(fused_support(d, m, opts))
    None
    >>> fused_support(d, m, [torch.optim.Adam(d.parameters())])
    'optimizer Adam is not plain SGD'
    """
    if not isinstance(discriminator, Discriminator):
        return f"discriminator {type(discriminator).__name__} is not this project's MLP"
    if any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in discriminator.net[1:]):
        return "hidden dropout"
    params = list(discriminator.parameters()) + list(mapping.parameters())
    if any(p.device.type != "cpu" or p.dtype != torch.float32 for p in params):
        return "parameters not float32 on the CPU"
    for opt in optimizers:
        if type(opt) is not torch.optim.SGD:
            return f"optimizer {type(opt).__name__} is not plain SGD"
        for group in opt.param_groups:
            if group.get("momentum", 0) or group.get("weight_decay", 0) or group.get("nesterov"):
                return "SGD with momentum or weight decay"
    return None


class FusedSteps:
    """SGD updates of a :class:`Discriminator` and a linear mapping, in numpy.

    The arrays are views of the modules' parameters (rebuild the object after
    a checkpoint is loaded into new tensors). Input dropout uses masks drawn by
    the caller (``uniform`` below), so a run is reproducible from its batches.

    Arguments
    ---------
    discriminator : Discriminator
    mapping : torch.nn.Module
        Has a ``weight`` parameter ``(out, in)``: ``y = x W^T``.

    Example
    -------
    >>> from speechbrain_align.nnet.mapping import LinearMapping
    >>> d, m = Discriminator(4, 8, 2, input_dropout=0.0), LinearMapping(4)
    >>> f = FusedSteps(d, m)
    >>> x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    >>> loss, correct = f.discriminator_step(x[:3], x[3:], None, 0.1, lr=0.1)
    >>> 0 < loss < 1, 0 <= correct <= 6
    (True, True)
    """

    def __init__(self, discriminator, mapping):
        linears = [m for m in discriminator.net if isinstance(m, torch.nn.Linear)]
        slopes = {m.negative_slope for m in discriminator.net if isinstance(m, torch.nn.LeakyReLU)}
        self.slope = float(slopes.pop()) if slopes else 0.0
        self.input_dropout = float(discriminator.net[0].p)
        self.layers = [(lin.weight.detach().numpy(), lin.bias.detach().numpy()) for lin in linears]
        self.map_weight = mapping.weight.detach().numpy()

    def _forward(self, x):
        """Each layer's input, the hidden pre-activations and the logits ``(n,)``."""
        acts, pre = [x], []
        for w, b in self.layers[:-1]:
            z = acts[-1] @ w.T
            z += b
            pre.append(z)
            acts.append(np.where(z > 0, z, self.slope * z))
        w, b = self.layers[-1]
        return acts, pre, (acts[-1] @ w.T)[:, 0] + b[0]

    def _backward(self, acts, pre, dlogits, lr):
        """Back-propagate ``dlogits``, update the layers (unless ``lr`` is 0); d loss / d input."""
        grad = dlogits[:, None]
        for i in range(len(self.layers) - 1, -1, -1):
            w, b = self.layers[i]
            below = grad @ w  # with the weights before this update, as autograd
            if lr:
                w -= lr * (grad.T @ acts[i])
                b -= lr * grad.sum(0)
            if i > 0:
                below = np.where(pre[i - 1] > 0, below, self.slope * below)
            grad = below
        return grad

    @staticmethod
    def _bce(logits, labels):
        """Mean binary cross-entropy with logits and its gradient."""
        loss = float(np.mean(np.logaddexp(0.0, logits) - labels * logits))
        grad = (1.0 / (1.0 + np.exp(-logits)) - labels) / len(logits)
        return loss, grad.astype(np.float32)

    def discriminator_step(self, fake, real, uniform, smoothing, lr):
        """One update on mapped source rows ``fake`` and target rows ``real``.

        ``uniform`` (same shape as the stacked rows, values in [0, 1)) draws
        the input dropout mask; returns the loss and how many rows were told
        apart correctly (before the update).
        """
        x = np.concatenate([fake, real]).astype(np.float32, copy=False)
        if self.input_dropout > 0:
            keep = 1.0 - self.input_dropout
            x = x * ((uniform >= self.input_dropout) / np.float32(keep)).astype(np.float32)
        labels = np.full(len(x), 1.0 - smoothing, dtype=np.float32)
        labels[: len(fake)] = smoothing
        acts, pre, logits = self._forward(x)
        loss, dlogits = self._bce(logits, labels)
        correct = int((logits[: len(fake)] <= 0).sum() + (logits[len(fake):] > 0).sum())
        self._backward(acts, pre, dlogits, lr)
        return loss, correct

    def mapping_step(self, src, smoothing, lr):
        """One update of the mapping on source rows ``src``: mapped rows should pass as targets.

        The discriminator is used without dropout (evaluation mode) and left
        unchanged; returns the loss.
        """
        fake = src @ self.map_weight.T
        acts, pre, logits = self._forward(fake)
        loss, dlogits = self._bce(logits, np.full(len(fake), 1.0 - smoothing, dtype=np.float32))
        dfake = self._backward(acts, pre, dlogits, lr=0.0)
        self.map_weight -= lr * (dfake.T @ src)
        return loss
