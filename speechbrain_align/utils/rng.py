"""Random generators' states as a checkpoint recoverable (exact resume).

:class:`RNGStates` saves the global generators (Python ``random``, NumPy,
torch CPU and CUDA) and any private generator registered with
:meth:`RNGStates.track` (e.g. a data sampler's ``random.Random``) to a JSON
file, and restores them. :class:`~speechbrain_align.utils.checkpoints.SafeCheckpointer`
adds one to every checkpoint.
"""

import json
import random

import numpy as np
import torch
from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, register_checkpoint_hooks


def _generator_state(gen):
    if isinstance(gen, random.Random):
        version, internal, gauss = gen.getstate()
        return {"kind": "random", "state": [version, list(internal), gauss]}
    if isinstance(gen, np.random.Generator):
        return {"kind": "numpy_generator", "state": gen.bit_generator.state}
    if isinstance(gen, np.random.RandomState):
        name, keys, pos, has_gauss, gauss = gen.get_state()
        return {"kind": "numpy_legacy", "state": [name, keys.tolist(), pos, has_gauss, gauss]}
    if isinstance(gen, torch.Generator):
        return {"kind": "torch", "state": gen.get_state().tolist()}
    raise TypeError(f"cannot checkpoint a generator of type {type(gen).__name__}")


def _set_generator_state(gen, saved):
    kind, state = saved["kind"], saved["state"]
    if kind == "random":
        gen.setstate((state[0], tuple(state[1]), state[2]))
    elif kind == "numpy_generator":
        gen.bit_generator.state = state
    elif kind == "numpy_legacy":
        gen.set_state((state[0], np.asarray(state[1], dtype=np.uint32), *state[2:]))
    elif kind == "torch":
        gen.set_state(torch.tensor(state, dtype=torch.uint8))


@register_checkpoint_hooks
class RNGStates:
    """The random generators' states as one checkpoint recoverable (a JSON file).

    Global generators (``random``, ``numpy.random``, torch CPU and CUDA) are
    always included; :meth:`track` adds private ones.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "rng.ckpt")
    >>> sampler = random.Random(3)
    >>> states = RNGStates()
    >>> states.track("sampler", sampler)
    >>> states.save(path)
    >>> before = (torch.rand(2), np.random.rand(), random.random(), sampler.random())
    >>> states.load(path)
    >>> after = (torch.rand(2), np.random.rand(), random.random(), sampler.random())
    >>> bool((before[0] == after[0]).all()) and before[1:] == after[1:]
    True
    """

    def __init__(self):
        self.generators = {}

    def track(self, name, generator):
        """Save and restore ``generator`` too (random.Random, numpy or torch generator)."""
        _generator_state(generator)  # fail now on an unsupported type
        self.generators[name] = generator

    def state(self):
        """All states as JSON-serialisable data."""
        np_name, keys, pos, has_gauss, gauss = np.random.get_state()
        version, internal, py_gauss = random.getstate()
        out = {
            "python": [version, list(internal), py_gauss],
            "numpy": [np_name, keys.tolist(), pos, has_gauss, gauss],
            "torch": torch.get_rng_state().tolist(),
            "tracked": {name: _generator_state(g) for name, g in self.generators.items()},
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            out["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
        return out

    def restore(self, state):
        """Set every generator from :meth:`state` 's output."""
        version, internal, py_gauss = state["python"]
        random.setstate((version, tuple(internal), py_gauss))
        name, keys, *rest = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
        torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
        cuda = state.get("cuda")
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in cuda])
        for name, saved in state.get("tracked", {}).items():
            if name in self.generators:
                _set_generator_state(self.generators[name], saved)

    @mark_as_saver
    def save(self, path):
        """Write the states to ``path`` (JSON)."""
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.state(), handle)

    @mark_as_loader
    def load(self, path, end_of_epoch=True):
        """Restore the states written by :meth:`save`."""
        with open(path, encoding="utf-8") as handle:
            self.restore(json.load(handle))
