"""What an aligned space's ``Pretrainer`` loads besides torch modules, and its torch loader.

:class:`WordVectors` holds one vector file (words, vectors, counts) as a
SpeechBrain checkpoint loadable; :func:`load_module_state` loads a torch
module's weights and names the file when it is missing or damaged. Both raise
:class:`~speechbrain_align.inference.pretrained.AlignedSpaceError`.
"""

import os

from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, register_checkpoint_hooks

from speechbrain_align.dataio.vectors import VectorFileError, load_binary, save_binary
from speechbrain_align.utils.errors import DamagedFileError
from speechbrain_align.utils.files import atomic_save, load_torch_file


def _space_error(message):
    from speechbrain_align.inference.pretrained import AlignedSpaceError

    return AlignedSpaceError(message)


def _existing(path, what):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise _space_error(f"{path}: missing (the {what} of this aligned space)")
    return path


@register_checkpoint_hooks
class WordVectors:
    """Word vectors as a checkpoint loadable: an ``.npz`` of words, vectors and counts.

    Arguments
    ---------
    embeddings : Embeddings, optional
        The vectors to save; filled by loading otherwise.

    Example
    -------
    >>> import numpy as np, os, tempfile
    >>> from speechbrain_align.dataio.vectors import Embeddings
    >>> path = os.path.join(tempfile.mkdtemp(), "text_vectors.ckpt")
    >>> WordVectors(Embeddings(["a", "b"], np.eye(2, dtype="float32"))).save(path)
    >>> loaded = WordVectors(); loaded.load(path); loaded.embeddings.words
    ['a', 'b']
    """

    def __init__(self, embeddings=None):
        self.embeddings = embeddings

    @mark_as_saver
    def save(self, path):
        """Write the vectors to ``path`` (any extension), atomically."""
        save_binary(self.embeddings, path)

    @mark_as_loader
    def load(self, path, end_of_epoch=False):
        """Read the vectors of ``path``; a missing or damaged file raises naming it."""
        path = _existing(path, "word vectors")
        try:
            self.embeddings = load_binary(path)
        except VectorFileError as err:
            raise _space_error(str(err)) from err


def load_module_state(module, path):
    """Load a torch ``state_dict`` file into ``module`` (a Pretrainer custom hook).

    A missing or damaged file, or weights that do not fit the module built
    from ``hyperparams.yaml``, raise an error naming the file.
    """
    path = _existing(path, f"{type(module).__name__} weights")
    try:
        state = load_torch_file(path, f"{type(module).__name__} checkpoint")
        module.load_state_dict(state)
    except DamagedFileError as err:
        raise _space_error(str(err)) from err
    except (RuntimeError, AttributeError, TypeError) as err:
        raise _space_error(
            f"{path}: does not fit the {type(module).__name__} of hyperparams.yaml ({err})"
        ) from err


def save_module_state(module_or_state, path):
    """Write a module's ``state_dict`` (or a given one) to ``path``, atomically."""
    import torch

    state = module_or_state
    if isinstance(module_or_state, torch.nn.Module):
        state = module_or_state.state_dict()
    atomic_save(path, lambda tmp: torch.save(state, tmp))
