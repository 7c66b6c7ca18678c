"""Named normalisation steps applied to an embedding matrix, in order.

``normalize: [unit, center, unit]`` (Artetxe et al., 2018) makes every
vector unit length, removes the mean vector, then makes them unit length
again. The same list is applied to both spaces.
"""

import numpy as np

STEPS = ("unit", "center", "unitdim", "none")


def normalize_embeddings(x, steps=("unit", "center", "unit")):
    """Apply the named ``steps`` to the rows of ``x``; returns a new float32 array.

    Steps: ``unit`` (rows to unit length), ``center`` (subtract the mean
    row), ``unitdim`` (each column to unit length), ``none``.

    Example
    -------
    >>> x = np.array([[3.0, 4.0], [1.0, 0.0]])
    >>> y = normalize_embeddings(x, ["unit", "center"])
    >>> np.allclose(y.mean(axis=0), 0)
    True
    >>> normalize_embeddings(x, ["half"])
    Traceback (most recent call last):
    ...
    ValueError: unknown normalisation step 'half' (known: unit, center, unitdim, none)
    """
    x = np.array(x, dtype=np.float32, copy=True)
    if isinstance(steps, str):
        steps = [steps]
    for step in steps:
        if step == "unit":
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        elif step == "center":
            x -= x.mean(axis=0, keepdims=True)
        elif step == "unitdim":
            x /= np.maximum(np.linalg.norm(x, axis=0, keepdims=True), 1e-12)
        elif step == "none":
            pass
        else:
            raise ValueError(
                f"unknown normalisation step {step!r} (known: {', '.join(STEPS)})"
            )
    return x
