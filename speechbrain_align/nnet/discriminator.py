"""The MLP discriminator of adversarial embedding alignment.

It tells mapped source vectors from target vectors. Dropout is applied to
its input (as in MUSE), which keeps it from latching onto a few dimensions.
"""

import torch


class Discriminator(torch.nn.Module):
    """MLP ``input -> hidden x n_layers -> 1 logit`` with leaky ReLUs.

    Arguments
    ---------
    input_size : int
        Embedding dimension.
    hidden_size : int
        Width of each hidden layer.
    n_layers : int
        Number of hidden layers (0 gives logistic regression).
    input_dropout : float
        Dropout applied to the input vectors.
    hidden_dropout : float
        Dropout after each hidden activation.
    leaky_slope : float
        Negative slope of the leaky ReLUs.

    Example
    -------
    >>> d = Discriminator(8, hidden_size=16, n_layers=2)
    >>> d(torch.randn(5, 8)).shape
    torch.Size([5])
    """

    def __init__(
        self,
        input_size,
        hidden_size=2048,
        n_layers=2,
        input_dropout=0.1,
        hidden_dropout=0.0,
        leaky_slope=0.2,
    ):
        super().__init__()
        layers = [torch.nn.Dropout(input_dropout)]
        size = input_size
        for _ in range(n_layers):
            layers += [
                torch.nn.Linear(size, hidden_size),
                torch.nn.LeakyReLU(leaky_slope),
                torch.nn.Dropout(hidden_dropout),
            ]
            size = hidden_size
        layers.append(torch.nn.Linear(size, 1))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x):
        """Logit (before sigmoid) that each row of ``x`` is a target vector."""
        return self.net(x).squeeze(-1)
