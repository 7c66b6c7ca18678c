"""Siamese encoder and contrastive loss for acoustic word embeddings (the contrastive route).

:class:`PairEncoder` maps a fixed-size segment vector to an embedding (an
MLP, or one linear layer with ``hidden=0``); :func:`info_nce` is the
symmetric InfoNCE loss of a batch of positive pairs with the other pairs as
negatives. Trained on mined cross-speaker pairs by
:class:`speechbrain_align.speech.awe_brain.ContrastiveAWEBrain`.

Measured on the Bible corpus this route fell BELOW its input (cross-accent
AP 0.71 -> 0.21-0.59): nearest-neighbour positives share token-specific
detail, which in-batch negatives teach the encoder to use; it is kept so the
comparison can be rerun (``routes: [lda, contrastive]`` in the AWE recipe).
"""

import torch
import torch.nn.functional as F


class PairEncoder(torch.nn.Module):
    """MLP ``input_size -> hidden -> hidden -> emb_dim`` (LayerNorm, ReLU); ``hidden=0``: linear.

    Example
    -------
    >>> enc = PairEncoder(6, emb_dim=3, hidden=8)
    >>> enc(torch.zeros(2, 6)).shape
    torch.Size([2, 3])
    """

    def __init__(self, input_size, emb_dim=128, hidden=256, dropout=0.0):
        super().__init__()
        self.input_size, self.emb_dim = int(input_size), int(emb_dim)
        if hidden:
            self.net = torch.nn.Sequential(
                torch.nn.Dropout(dropout), torch.nn.Linear(input_size, hidden),
                torch.nn.LayerNorm(hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                torch.nn.LayerNorm(hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, emb_dim),
            )
        else:
            self.net = torch.nn.Linear(input_size, emb_dim)

    def forward(self, x):
        """Embeddings ``(batch, emb_dim)`` of rows ``(batch, input_size)``."""
        return self.net(x)


def info_nce(za, zb, temperature=0.1):
    """Symmetric InfoNCE of paired rows (row ``i`` of ``za`` and ``zb`` are a positive pair).

    Example
    -------
    >>> z = torch.eye(4)
    >>> bool(info_nce(z, z, 0.05) < info_nce(z, z.flip(0), 0.05))
    True
    """
    za, zb = F.normalize(za, dim=1), F.normalize(zb, dim=1)
    logits = za @ zb.T / temperature
    target = torch.arange(len(za), device=za.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
