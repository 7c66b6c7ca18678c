"""Supervised word classifiers: the upper-bound baselines of the paper.

Two models classify a spoken word segment into a closed vocabulary:

* :class:`LastStepBiLSTM` reads the segment's acoustic frames (Fbank or MFCC)
  with a bidirectional LSTM and classifies from the last step, i.e. the
  forward state at the last *valid* frame and the backward state at the first
  frame, so padding never leaks into the decision (the paper's supervised
  upper bound).
* :class:`ImageMLP` classifies the fixed-size resized log-Mel image of the
  segment (1,024 features, see :mod:`speechbrain_align.speech.acoustic_image`)
  with a small multilayer perceptron (a classic small baseline).

Both return log-probabilities of shape ``(batch, n_classes)``, ready for
``speechbrain.nnet.losses.nll_loss``; ``forward`` is ``classify(embed(x))``,
the two halves that SpeechBrain's ``EncoderClassifier`` calls
``embedding_model`` and ``classifier`` (see
:mod:`speechbrain_align.inference.word_classifier`). Lengths follow SpeechBrain's convention:
relative lengths in ``(0, 1]``, a fraction of the padded time axis.
"""

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from speechbrain_align.nnet.lengths import relative_to_absolute


class LastStepBiLSTM(nn.Module):
    """Bidirectional LSTM over frames, softmax at the last step.

    The decision uses the forward direction's output at each sequence's last
    valid frame and the backward direction's output at frame 0 (which has
    read the whole valid sequence backwards). Sequences are packed, so padded
    frames have no effect at all.

    Arguments
    ---------
    input_size : int
        Feature dimension (e.g. 40 Fbank or 13 MFCC coefficients).
    hidden_size : int
        LSTM units per direction.
    n_classes : int
        Number of words.
    num_layers : int
        Stacked LSTM layers (the paper uses one).
    dropout : float
        Dropout on the final state before the output layer (and between
        layers when ``num_layers > 1``).

    Example
    -------
    >>> model = LastStepBiLSTM(input_size=13, hidden_size=8, n_classes=4)
    >>> x = torch.randn(3, 20, 13)
    >>> out = model(x, torch.tensor([1.0, 0.5, 0.25]))
    >>> out.shape
    torch.Size([3, 4])
    >>> bool(torch.allclose(out.exp().sum(-1), torch.ones(3)))
    True
    """

    def __init__(self, input_size, hidden_size, n_classes, num_layers=1, dropout=0.0):
        super().__init__()
        if min(input_size, hidden_size, n_classes, num_layers) < 1:
            raise ValueError(
                "input_size, hidden_size, n_classes and num_layers must be >= 1, got "
                f"{input_size}, {hidden_size}, {n_classes}, {num_layers}"
            )
        self.hidden_size = hidden_size
        self.lstm = nn.LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden_size, n_classes)

    def last_state(self, x, lengths=None):
        """The ``(batch, 2 * hidden_size)`` summary of each sequence.

        Arguments
        ---------
        x : torch.Tensor
            Frames, ``(batch, time, input_size)``.
        lengths : torch.Tensor, optional
            Relative lengths ``(batch,)``; ``None`` means no padding.
        """
        if x.dim() != 3:
            raise ValueError(f"expected (batch, time, features), got shape {tuple(x.shape)}")
        batch, max_len, _ = x.shape
        if lengths is None:
            abs_len = torch.full((batch,), max_len, dtype=torch.long)
        else:
            abs_len = relative_to_absolute(lengths.detach().cpu(), max_len)
        packed = pack_padded_sequence(x, abs_len, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=max_len)
        rows = torch.arange(batch, device=x.device)
        forward_last = out[rows, abs_len.to(x.device) - 1, : self.hidden_size]
        backward_first = out[:, 0, self.hidden_size :]
        return torch.cat([forward_last, backward_first], dim=-1)

    def embed(self, x, lengths=None):
        """The segment embedding: :meth:`last_state` (for ``EncoderClassifier``)."""
        return self.last_state(x, lengths)

    def classify(self, state):
        """Log-probabilities ``(batch, n_classes)`` from :meth:`embed` ``(batch, 2 * hidden)``."""
        return torch.log_softmax(self.out(self.dropout(state)), dim=-1)

    def forward(self, x, lengths=None):
        """Log-probabilities ``(batch, n_classes)`` for frames ``x`` with relative ``lengths``."""
        return self.classify(self.last_state(x, lengths))


class ImageMLP(nn.Module):
    """Multilayer perceptron over a flattened acoustic image.

    Arguments
    ---------
    input_size : int
        Flattened image size (1,024 for a 32 x 32 log-Mel image).
    hidden_sizes : list of int
        Sizes of the hidden layers (ReLU, dropout after each).
    n_classes : int
        Number of words.
    dropout : float
        Dropout probability after each hidden layer.

    Example
    -------
    >>> model = ImageMLP(input_size=1024, hidden_sizes=[64, 32], n_classes=5)
    >>> model(torch.randn(2, 1024)).shape
    torch.Size([2, 5])
    """

    def __init__(self, input_size, hidden_sizes, n_classes, dropout=0.0):
        super().__init__()
        hidden_sizes = list(hidden_sizes)
        if input_size < 1 or n_classes < 1 or any(h < 1 for h in hidden_sizes):
            raise ValueError(
                f"sizes must be >= 1: input_size={input_size}, "
                f"hidden_sizes={hidden_sizes}, n_classes={n_classes}"
            )
        self.input_size = input_size
        layers = []
        previous = input_size
        for size in hidden_sizes:
            layers += [nn.Linear(previous, size), nn.ReLU(), nn.Dropout(dropout)]
            previous = size
        layers.append(nn.Linear(previous, n_classes))
        self.net = nn.Sequential(*layers)

    def embed(self, x, lengths=None):
        """The last hidden layer's output ``(batch, hidden_sizes[-1])``; ``lengths`` is ignored."""
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(
                f"expected (batch, {self.input_size}) images, got shape {tuple(x.shape)}"
            )
        return self.net[:-1](x)

    def classify(self, hidden):
        """Log-probabilities ``(batch, n_classes)`` from :meth:`embed`."""
        return torch.log_softmax(self.net[-1](hidden), dim=-1)

    def forward(self, x, lengths=None):
        """Log-probabilities ``(batch, n_classes)``; ``lengths`` is ignored (fixed-size input)."""
        return self.classify(self.embed(x))
