"""SpeechBrain relative lengths (``(batch,)`` in ``(0, 1]``, relative to the padded
time axis) as frame counts and masks, for the modules of this package."""

import torch


def relative_to_absolute(lengths, max_len):
    """Turn SpeechBrain relative lengths into frame counts in ``[1, max_len]``.

    Arguments
    ---------
    lengths : torch.Tensor or None
        Relative lengths, shape ``(batch,)``; ``None`` means all full.
    max_len : int
        Size of the padded time axis.

    Example
    -------
    >>> relative_to_absolute(torch.tensor([1.0, 0.5, 0.01]), 10).tolist()
    [10, 5, 1]
    """
    if lengths is None:
        raise ValueError("lengths is None")
    lengths = torch.as_tensor(lengths, dtype=torch.float32)
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be 1-D (batch,), got shape {tuple(lengths.shape)}")
    if (lengths <= 0).any() or (lengths > 1.0 + 1e-6).any():
        raise ValueError(
            "relative lengths must lie in (0, 1] (SpeechBrain convention), got "
            f"min={lengths.min().item():.4g} max={lengths.max().item():.4g}"
        )
    return torch.round(lengths * max_len).long().clamp(1, max_len)


def length_mask(lengths, max_len):
    """Boolean mask ``(B, max_len)``, True on the real frames of each row.

    ``lengths`` are relative (SpeechBrain convention), converted with
    :func:`relative_to_absolute` (rounded to the nearest frame: a relative
    length ``n / max_len`` in float32 gives ``n`` back exactly, whereas a
    threshold such as ``arange < lengths * max_len - eps`` can gain a frame
    when the product rounds up).

    Example
    -------
    >>> length_mask(torch.tensor([1 / 3, 1.0]), 3).tolist()
    [[True, False, False], [True, True, True]]
    """
    steps = torch.arange(max_len, device=lengths.device)
    return steps.unsqueeze(0) < relative_to_absolute(lengths, max_len).to(steps.device).unsqueeze(1)
