"""A compact temporal CNN encoder for short spoken words.

The filterbank bins are the input channels of 1-D convolutions over time
(TC-ResNet style): a 3-frame input convolution, then residual blocks of two
9-frame convolutions, each stage halving the frame rate and widening the
channels, then statistics pooling (mean and standard deviation over the valid
frames) and a linear projection. It costs about a third of a 64-channel
ECAPA-TDNN per clip on a CPU.

The encoder follows SpeechBrain's embedding-model convention: input
``(batch, time, features)`` with relative lengths, output
``(batch, 1, emb_dim)``, so it can replace ``ECAPA_TDNN`` or ``Xvector`` in a
YAML file (and in ``EncoderClassifier``).
"""

import torch
import torch.nn as nn
from speechbrain.nnet.pooling import StatisticsPooling


class ResidualBlock1d(nn.Module):
    """Two same-padded 1-D convolutions with batch norm and a residual connection.

    Arguments
    ---------
    in_channels, out_channels : int
    kernel_size : int
        Odd, in frames.
    stride : int
        Of the first convolution (and of the 1x1 shortcut when shapes change).

    Example
    -------
    >>> ResidualBlock1d(8, 16, 9, stride=2)(torch.randn(2, 8, 21)).shape
    torch.Size([2, 16, 11])
    """

    def __init__(self, in_channels, out_channels, kernel_size=9, stride=1):
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, stride, pad, bias=False)
        self.norm1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, 1, pad, bias=False)
        self.norm2 = nn.BatchNorm1d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm1d(out_channels)
            )

    def forward(self, x):
        """``(batch, channels, time)`` -> ``(batch, out_channels, ceil(time / stride))``."""
        h = torch.relu(self.norm1(self.conv1(x)))
        return torch.relu(self.norm2(self.conv2(h)) + self.shortcut(x))


class TemporalConvEncoder(nn.Module):
    """Temporal CNN over filterbank frames -> one embedding per segment.

    Arguments
    ---------
    input_size : int
        Features per frame (e.g. 40 Fbank bins).
    channels : list of int
        Width of the input convolution, then of each stage; every stage after
        the first halves the frame rate (e.g. ``[32, 48, 64, 64]``).
    kernel_size : int
        Of the residual blocks' convolutions (odd, in frames).
    emb_dim : int
        Embedding size.

    Example
    -------
    >>> enc = TemporalConvEncoder(40, channels=[8, 12, 16], emb_dim=10)
    >>> enc(torch.randn(3, 50, 40), torch.tensor([1.0, 0.6, 0.3])).shape
    torch.Size([3, 1, 10])
    """

    def __init__(self, input_size, channels=(32, 48, 64, 64), kernel_size=9, emb_dim=128):
        super().__init__()
        channels = [int(c) for c in channels]
        if len(channels) < 2 or min(channels) < 1 or input_size < 1 or emb_dim < 1:
            raise ValueError(
                f"need input_size, emb_dim >= 1 and at least 2 channel sizes >= 1, got "
                f"input_size={input_size}, channels={channels}, emb_dim={emb_dim}"
            )
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.input_layer = nn.Sequential(
            nn.Conv1d(input_size, channels[0], 3, 1, 1, bias=False), nn.BatchNorm1d(channels[0]), nn.ReLU()
        )
        blocks = []
        for previous, width in zip(channels[:-1], channels[1:]):
            blocks += [ResidualBlock1d(previous, width, kernel_size, 2), ResidualBlock1d(width, width, kernel_size)]
        self.blocks = nn.Sequential(*blocks)
        self.pooling = StatisticsPooling()
        self.projection = nn.Linear(2 * channels[-1], emb_dim)

    def forward(self, x, lengths=None):
        """Embeddings ``(batch, 1, emb_dim)`` of frames ``x`` ``(batch, time, features)``.

        ``lengths`` are relative (SpeechBrain convention); the pooling ignores
        the padded frames (the convolutions near the end still see them).
        """
        if x.dim() != 3:
            raise ValueError(f"expected (batch, time, features), got shape {tuple(x.shape)}")
        h = self.blocks(self.input_layer(x.transpose(1, 2))).transpose(1, 2)
        return self.projection(self.pooling(h, lengths))
