"""Linear map between two embedding spaces, kept close to orthogonal.

MUSE (Conneau et al., 2018) trains a square matrix ``W`` adversarially and,
after each update, pulls it back towards the orthogonal manifold with
``W <- (1 + beta) W - beta (W W^T) W``. This is one step of an iteration
whose fixed points are the orthogonal matrices: if ``W = U S V^T`` the update
maps each singular value ``s`` to ``(1 + beta) s - beta s^3``, which moves it
towards 1.
"""

import torch


class LinearMapping(torch.nn.Module):
    """A bias-free linear map ``y = x W^T`` from ``input_size`` to ``output_size``.

    Arguments
    ---------
    input_size : int
        Dimension of the source space.
    output_size : int
        Dimension of the target space (defaults to ``input_size``).
    init : "identity" or "random"
        Identity (truncated/zero-padded when not square) or a random
        orthogonal matrix (QR of a Gaussian, from torch's current RNG).

    Example
    -------
    >>> m = LinearMapping(4)
    >>> x = torch.randn(3, 4)
    >>> torch.allclose(m(x), x)
    True
    >>> m = LinearMapping(4, init="random")
    >>> torch.allclose(m.weight @ m.weight.T, torch.eye(4), atol=1e-5)
    True
    """

    def __init__(self, input_size, output_size=None, init="identity"):
        super().__init__()
        output_size = input_size if output_size is None else output_size
        self.input_size, self.output_size = int(input_size), int(output_size)
        weight = torch.empty(self.output_size, self.input_size)
        if init == "identity":
            weight.zero_()
            n = min(self.input_size, self.output_size)
            weight[:n, :n] = torch.eye(n)
        elif init == "random":
            q, r = torch.linalg.qr(torch.randn(max(weight.shape), max(weight.shape)))
            q = q * torch.sign(torch.diagonal(r))  # uniform (Haar) orthogonal
            weight.copy_(q[: self.output_size, : self.input_size])
        else:
            raise ValueError(f"unknown init {init!r} (use 'identity' or 'random')")
        self.weight = torch.nn.Parameter(weight)

    def forward(self, x):
        """Map rows of ``x`` (``(..., input_size)``) to the target space."""
        return x @ self.weight.t()

    @torch.no_grad()
    def orthogonalize(self, beta=0.001):
        """One step of ``W <- (1 + beta) W - beta (W W^T) W`` in place.

        Example
        -------
        >>> m = LinearMapping(3)
        >>> _ = m.weight.data.mul_(1.1)
        >>> for _ in range(200):
        ...     m.orthogonalize(0.05)
        >>> bool(torch.allclose(m.weight @ m.weight.T, torch.eye(3), atol=1e-4))
        True
        """
        if beta > 0:
            w = self.weight.data
            w.copy_((1 + beta) * w - beta * (w @ w.t()) @ w)

    @torch.no_grad()
    def project_orthogonal(self):
        """Replace ``W`` by the nearest orthogonal matrix ``U V^T`` (``W = U S V^T``).

        Example
        -------
        >>> m = LinearMapping(3)
        >>> _ = m.weight.data.add_(0.3 * torch.randn(3, 3))
        >>> m.project_orthogonal()
        >>> bool(torch.allclose(m.weight @ m.weight.T, torch.eye(3), atol=1e-5))
        True
        """
        w = self.weight.data
        eye = torch.eye(min(w.shape), dtype=w.dtype, device=w.device)
        tall = w.shape[0] > w.shape[1]
        gram = lambda m: m.t() @ m if tall else m @ m.t()  # noqa: E731
        # Newton-Schulz iterations converge fast from a near-orthogonal W (the
        # case after one small gradient step) and cost a few small matmuls,
        # ~10x less than an SVD on a CPU; far from orthogonal, take the SVD.
        if float((gram(w) - eye).abs().max()) < 0.5:
            for _ in range(8):
                w = 1.5 * w - 0.5 * (w @ gram(w) if tall else gram(w) @ w)
                if float((gram(w) - eye).abs().max()) < 1e-6:
                    self.weight.data.copy_(w)
                    return
        u, _, vt = torch.linalg.svd(self.weight.data, full_matrices=False)
        self.weight.data.copy_(u @ vt)

    def set_weight(self, weight):
        """Overwrite the matrix with ``weight`` (array or tensor, ``(out, in)``)."""
        weight = torch.as_tensor(weight, dtype=self.weight.dtype)
        if tuple(weight.shape) != tuple(self.weight.shape):
            raise ValueError(
                f"mapping of shape {tuple(weight.shape)}, expected {tuple(self.weight.shape)}"
            )
        with torch.no_grad():
            self.weight.copy_(weight.to(self.weight.device))
