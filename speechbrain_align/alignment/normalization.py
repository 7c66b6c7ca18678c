"""Named normalisation steps applied to an embedding matrix, in order.

``normalize: [unit, center, unit]`` (Artetxe et al., 2018) makes every
vector unit length, removes the mean vector, then makes them unit length
again. The same list is applied to both spaces.
"""

import numpy as np

STEPS = ("unit", "center", "unitdim", "none")


def as_steps(steps):
    """Normalisation steps as a list; a single name is one step, not its letters.

    Example
    -------
    >>> as_steps("unit"), as_steps(("unit", "center"))
    (['unit'], ['unit', 'center'])
    """
    return [steps] if isinstance(steps, str) else list(steps)


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
    return fit_normalizer(x, steps)[0]


def fit_normalizer(x, steps):
    """Apply normalisation ``steps`` to ``x`` and record what a new row needs.

    Steps: ``unit`` (rows to unit length), ``center`` (subtract the mean
    row), ``unitdim`` (each column to unit length), ``none``. The means and
    column norms are kept so :func:`apply_normalizer` can transform held-out
    queries exactly as the rows of ``x`` were.

    Returns
    -------
    normalised : np.ndarray
    fitted : list of (step, parameter or None)

    Example
    -------
    >>> x = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    >>> y, fitted = fit_normalizer(x, ["unit", "center", "unit"])
    >>> np.allclose(apply_normalizer(x[1:2], fitted), y[1:2])
    True
    """
    x = np.array(x, dtype=np.float32, copy=True)
    fitted = []
    for step in as_steps(steps):
        if step == "unit":
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
            fitted.append((step, None))
        elif step == "center":
            mean = x.mean(axis=0, keepdims=True)
            x -= mean
            fitted.append((step, mean))
        elif step == "unitdim":
            norms = np.maximum(np.linalg.norm(x, axis=0, keepdims=True), 1e-12)
            x /= norms
            fitted.append((step, norms))
        elif step == "none":
            fitted.append((step, None))
        else:
            raise ValueError(
                f"unknown normalisation step {step!r} (known: unit, center, unitdim, none)"
            )
    return x, fitted


def apply_normalizer(q, fitted):
    """Transform rows ``q`` with steps fitted by :func:`fit_normalizer`."""
    q = np.array(q, dtype=np.float32, copy=True)
    for step, param in fitted:
        if step == "unit":
            q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        elif step == "center":
            q -= param
        elif step == "unitdim":
            q /= param
    return q
