"""Atomic writes and the "skip if already prepared" pattern of SpeechBrain.

Every file this package writes goes through :func:`atomic_write`, so that a
crash or a bad input never leaves a half-written manifest, vector file or
results table behind: the data goes to a temporary file in the same folder,
which is renamed over the target only once it is complete.
"""

import contextlib
import hashlib
import json
import os
import pickle
import tempfile
import zipfile

from speechbrain_align.utils.errors import DamagedFileError


def _umask_mode():
    """Mode a plain ``open()`` would give a new file (0o666 less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _checked_target(path):
    """Refuse targets that a rename would destroy (devices, folders, pipes)."""
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isfile(path):
        raise IsADirectoryError(
            f"{path}: exists and is not a regular file; refusing to replace it"
        )
    return path


@contextlib.contextmanager
def atomic_write(path, mode="w", encoding="utf-8", newline=None):
    """Open ``path`` for writing through a temporary file renamed on success.

    If the body raises, the temporary file is removed and ``path`` keeps its
    previous content (or stays absent).

    Example
    -------
    >>> import os, tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> target = os.path.join(tmp, "a.txt")
    >>> with atomic_write(target) as f:
    ...     _ = f.write("hello")
    >>> open(target).read()
    'hello'
    >>> try:
    ...     with atomic_write(target) as f:
    ...         _ = f.write("half")
    ...         raise RuntimeError("boom")
    ... except RuntimeError:
    ...     pass
    >>> open(target).read()
    'hello'
    """
    path = _checked_target(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp"
    )
    try:
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": newline}
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _umask_mode())  # mkstemp creates files readable by the owner only
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_save(path, save_fn):
    """Call ``save_fn(tmp_path)`` then rename ``tmp_path`` to ``path``.

    For writers that want a file name rather than a handle (``np.save``,
    ``soundfile.write``, ``torch.save``). The temporary name keeps the
    extension of ``path`` so that format-sniffing writers behave.

    Example
    -------
    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> atomic_save(target, lambda p: open(p, "w").write("ok"))
    >>> open(target).read()
    'ok'
    """
    path = _checked_target(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + base + ".", suffix=".tmp" + ext)
    os.close(fd)
    try:
        save_fn(tmp)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(path) as handle:
        json.dump(obj, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")


def _options_file(outputs):
    return os.fspath(outputs[0]) + ".opts.json"


def already_prepared(outputs, options):
    """True if every file in ``outputs`` exists and was made with ``options``.

    This is SpeechBrain's ``skip()`` pattern for prepare functions: the
    options used are stored next to the first output by
    :func:`mark_prepared`; a rerun with the same options does nothing, a rerun
    with different options (or a missing output) redoes the work. When it
    answers False it removes the old record, so outputs left half-rewritten by
    an interrupted run are never taken for finished ones.

    Example
    -------
    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "m.csv")
    >>> already_prepared([out], {"a": 1})
    False
    >>> _ = open(out, "w").write("x")
    >>> mark_prepared([out], {"a": 1})
    >>> already_prepared([out], {"a": 1}), already_prepared([out], {"a": 2})
    (True, False)
    """
    outputs = [os.fspath(o) for o in outputs]
    record = _options_file(outputs)
    stored = None
    if all(os.path.exists(o) for o in outputs):
        try:
            with open(record, encoding="utf-8") as handle:
                stored = json.load(handle)
        except (OSError, ValueError):
            stored = None
    if stored is not None and stored == json.loads(json.dumps(options, default=str)):
        return True
    # The caller is about to redo the work: drop the old record first, so that
    # a run interrupted half-way can never leave outputs that look finished.
    with contextlib.suppress(FileNotFoundError):
        os.remove(record)
    return False


def mark_prepared(outputs, options):
    """Record that ``outputs`` were made with ``options`` (see :func:`already_prepared`)."""
    write_json(_options_file([os.fspath(o) for o in outputs]), options)


def load_array_file(path, what="array file"):
    """Load a ``.npy`` (array) or ``.npz`` (dict of arrays, read eagerly) without pickles.

    A file that is missing, truncated, damaged or not written by numpy raises
    :class:`~speechbrain_align.utils.errors.DamagedFileError` naming it.

    Example
    -------
    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npy")
    >>> np.save(path, np.eye(2)); load_array_file(path).shape
    (2, 2)
    >>> _ = open(path, "wb").write(b"\\x93NUMPY garbage")
    >>> try:
    ...     load_array_file(path, "mapping")
    ... except DamagedFileError as err:
    ...     print(str(err).replace(path, "m.npy").split(" (")[0])
    m.npy: not a readable mapping
    """
    import numpy as np

    path = os.fspath(path)
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                return {key: data[key] for key in data.files}
        return data
    except FileNotFoundError:
        raise DamagedFileError(f"{path}: {what} not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as err:
        reason = "it holds pickled objects" if "pickled" in str(err) else str(err)[:120]
        raise DamagedFileError(
            f"{path}: not a readable {what} (damaged, truncated or not written by numpy: {reason})"
        ) from err


def load_torch_file(path, what="model file", map_location="cpu"):
    """``torch.load(path, weights_only=True)``; a damaged file raises DamagedFileError naming it."""
    import torch

    path = os.fspath(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise DamagedFileError(f"{path}: {what} not found") from None
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise DamagedFileError(
            f"{path}: not a readable {what} (damaged, truncated or not a torch file: {reason})"
        ) from err


def sha256_file(path):
    """Hex SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_path(path, directory=False):
    """Flush a file (or, with ``directory``, a folder's entries) to disk; best effort."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
