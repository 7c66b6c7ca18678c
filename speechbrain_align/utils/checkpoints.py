"""Crash-safe checkpoints and exact resume for every Brain of this package.

SpeechBrain's ``Checkpointer`` writes ``CKPT.yaml`` into the checkpoint
folder before the parameter files, so a run killed in between leaves a
folder that looks like the newest checkpoint and makes every restart fail.
:class:`SafeCheckpointer` (a drop-in subclass, used by every YAML here)
makes a kill at any instant harmless:

* a checkpoint is written into a hidden staging folder and renamed to its
  ``CKPT+...`` name only once complete (files synced); deletions first rename
  the folder to a hidden name. Leftover hidden folders are removed on start;
* ``CKPT.yaml`` records the size and SHA-256 of every parameter file; a folder
  whose record is missing, empty or disagrees with its files (written by an
  older version, damaged on disk, half deleted) is skipped with one warning
  naming it, and recovery falls back to the next checkpoint;
* the states of the random generators (Python, NumPy, torch, CUDA, plus any
  generator registered with :meth:`SafeCheckpointer.track_rng`, such as a data
  sampler's) are saved and restored, so a resumed run draws what an
  uninterrupted one would (dropout, shuffling, subsampling);
* the sizes of the train logs given as ``log_files`` are recorded; resuming
  training from a checkpoint truncates each log to its recorded size, so an
  epoch logged just before a kill is not logged twice.

Use it in a YAML in place of SpeechBrain's class::

    checkpointer: !new:speechbrain_align.utils.checkpoints.SafeCheckpointer
        checkpoints_dir: !ref <save_folder>
        log_files: [!ref <train_log>]
        recoverables: ...
"""

import json
import logging
import os
import pickle
import shutil
import zipfile

import yaml
from speechbrain.utils.checkpoints import (
    CKPT_PREFIX,
    METAFNAME,
    PARAMFILE_EXT,
    Checkpoint,
    Checkpointer,
    ckpt_recency,
)
from speechbrain.utils.distributed import ddp_barrier, if_main_process

from speechbrain_align.utils.errors import UserError
from speechbrain_align.utils.files import fsync_path as _fsync
from speechbrain_align.utils.files import sha256_file as _sha256
from speechbrain_align.utils.rng import RNGStates

logger = logging.getLogger(__name__)

FILES_KEY = "_files"  # in CKPT.yaml: {file name: [size, sha256]}
LOGS_KEY = "_log_sizes"  # in CKPT.yaml: {log path: size in bytes}
_STAGING = ".partial"
_DELETING = ".deleting"


class CheckpointError(UserError, RuntimeError):
    """No usable checkpoint, or one that does not fit the model; names the folder."""


# ---------------------------------------------------------------- checkpointer


# What a damaged parameter file raises when loaded (empty, truncated, garbage).
_DAMAGED = (EOFError, pickle.UnpicklingError, zipfile.BadZipFile, yaml.YAMLError,
            UnicodeDecodeError, json.JSONDecodeError)


def _is_damage(err):
    if isinstance(err, _DAMAGED):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and (
        "PytorchStreamReader" in text or "failed finding central directory" in text
    )


class SafeCheckpointer(Checkpointer):
    """A SpeechBrain ``Checkpointer`` that survives a kill at any instant.

    Same arguments as :class:`speechbrain.utils.checkpoints.Checkpointer`, plus:

    Arguments
    ---------
    log_files : list of str, optional
        Train logs (e.g. the ``FileTrainLogger`` 's file) rewound to their
        size at a checkpoint when training resumes from it.
    save_rng : bool
        Save and restore the random generators' states
        (:class:`~speechbrain_align.utils.rng.RNGStates`).
    (other arguments)
        As SpeechBrain's ``Checkpointer``.

    Example
    -------
    >>> import tempfile, torch
    >>> folder = tempfile.mkdtemp()
    >>> layer = torch.nn.Linear(2, 2)
    >>> ckpt = SafeCheckpointer(folder, {"layer": layer})
    >>> saved = ckpt.save_and_keep_only(meta={"loss": 1.0})
    >>> _ = torch.nn.init.zeros_(layer.weight)
    >>> ckpt.recover_if_possible().meta["loss"], bool(layer.weight.abs().sum() > 0)
    (1.0, True)
    >>> bad = os.path.join(folder, "CKPT+2099-01-01+00-00-00+00")
    >>> os.mkdir(bad); open(os.path.join(bad, "CKPT.yaml"), "w").close()
    >>> ckpt.recover_if_possible().meta["loss"]  # the empty folder is skipped
    1.0
    """

    def __init__(self, checkpoints_dir, recoverables=None, custom_load_hooks=None,
                 custom_save_hooks=None, allow_partial_load=False, log_files=None,
                 save_rng=True):
        super().__init__(checkpoints_dir, recoverables, custom_load_hooks,
                         custom_save_hooks, allow_partial_load)
        self.log_files = [os.fspath(p) for p in (log_files or [])]
        self.rng_states = RNGStates()
        if save_rng:
            self.add_recoverable("rng", self.rng_states, optional_load=True)
        self._staging = None
        self._reported = set()
        if if_main_process():
            self._remove_leftovers()

    def add_recoverables(self, recoverables):
        """As SpeechBrain's, recording each one as required on load."""
        super().add_recoverables(recoverables)
        for name in recoverables:
            self.optional_recoverables.setdefault(name, False)

    def track_rng(self, name, generator):
        """Checkpoint a private random generator (e.g. a data sampler's)."""
        self.rng_states.track(name, generator)

    # ------------------------------------------------------------ saving

    def _new_checkpoint_dirpath(self):
        return self._staging or super()._new_checkpoint_dirpath()

    def _custom_checkpoint_dirpath(self, name):
        return self._staging or super()._custom_checkpoint_dirpath(name)

    def _save_checkpoint_metafile(self, fpath, meta_to_include={}, end_of_epoch=True):
        meta = dict(meta_to_include)
        sizes = {}
        for path in self.log_files:
            if os.path.isfile(path):
                sizes[path] = os.path.getsize(path)
        if sizes:
            meta[LOGS_KEY] = sizes
        return super()._save_checkpoint_metafile(fpath, meta, end_of_epoch)

    def save_checkpoint(self, meta={}, end_of_epoch=True, name=None, verbosity=logging.INFO):
        """Save a checkpoint (see SpeechBrain's); it appears complete or not at all."""
        final = None
        if if_main_process():
            final = (super()._new_checkpoint_dirpath() if name is None
                     else super()._custom_checkpoint_dirpath(name))
            self._staging = final.with_name("." + final.name + _STAGING)
            if self._staging.exists():
                shutil.rmtree(self._staging)
        try:
            staged = super().save_checkpoint(meta, end_of_epoch, name, logging.DEBUG)
        finally:
            self._staging = None
        ddp_barrier()  # every process has written its files
        if not if_main_process():
            return None
        self._seal(staged.path)
        if final.exists():  # a custom name saved again: replace it
            self._remove_folder(final, logging.DEBUG)
        os.rename(staged.path, final)
        _fsync(final.parent, directory=True)
        type_ = "end-of-epoch" if end_of_epoch else "intra-epoch"
        logger.log(verbosity, "Saved an %s checkpoint in %s", type_, final)
        paramfiles = {k: final / p.name for k, p in staged.paramfiles.items()}
        with open(final / METAFNAME, encoding="utf-8") as handle:
            return Checkpoint(final, yaml.safe_load(handle), paramfiles)

    def _seal(self, folder):
        """Record every file's size and hash in CKPT.yaml, then sync the folder."""
        files = {}
        for entry in sorted(os.listdir(folder)):
            path = os.path.join(folder, entry)
            if entry != METAFNAME and os.path.isfile(path):
                _fsync(path)
                files[entry] = [os.path.getsize(path), _sha256(path)]
        meta_path = os.path.join(folder, METAFNAME)
        with open(meta_path, encoding="utf-8") as handle:
            meta = yaml.safe_load(handle)
        meta[FILES_KEY] = files
        with open(meta_path, "w", encoding="utf-8") as handle:
            handle.write("# yamllint disable\n" + yaml.dump(meta))
            handle.flush()
            os.fsync(handle.fileno())
        _fsync(folder, directory=True)

    # ------------------------------------------------------------ deleting

    def _remove_folder(self, path, verbosity=logging.INFO):
        """Rename to a hidden name (atomic), then delete."""
        hidden = path.with_name("." + path.name + _DELETING)
        if hidden.exists():
            shutil.rmtree(hidden)
        os.rename(path, hidden)
        shutil.rmtree(hidden)
        logger.log(verbosity, "Deleted checkpoint in %s", path)

    def _remove_leftovers(self):
        """Delete staging and half-deleted folders left by a killed run."""
        for entry in self.checkpoints_dir.iterdir():
            if (entry.is_dir() and entry.name.startswith("." + CKPT_PREFIX)
                    and entry.name.endswith((_STAGING, _DELETING))):
                logger.info("Removing %s, left by an interrupted run", entry)
                shutil.rmtree(entry, ignore_errors=True)

    def delete_checkpoints(self, *, num_to_keep=1, min_keys=None, max_keys=None,
                           importance_keys=(ckpt_recency,), ckpt_predicate=None,
                           verbosity=logging.INFO):
        """Delete all but the ``num_to_keep`` best checkpoints of each ordering.

        Same arguments and choice as SpeechBrain's; each folder is first
        renamed to a hidden name, so a kill half-way through a deletion never
        leaves a folder that looks like a checkpoint.
        """
        if num_to_keep < 0:
            raise ValueError("Number of checkpoints to keep must be positive.")
        orders = [{"min_key": k} for k in min_keys or []]
        orders += [{"max_key": k} for k in max_keys or []]
        orders += [{"importance_key": k} for k in importance_keys]
        candidates, keep = set(), set()
        for order in orders:
            candidates.update(self.find_checkpoints(ckpt_predicate=ckpt_predicate, **order))
            keep.update(self.find_checkpoints(
                ckpt_predicate=ckpt_predicate, max_num_checkpoints=num_to_keep, **order))
        ddp_barrier()
        if if_main_process():
            for ckpt in candidates - keep:
                self._remove_folder(ckpt.path, verbosity)
        ddp_barrier()

    def save_and_keep_only(self, meta={}, end_of_epoch=True, name=None, num_to_keep=1,
                           keep_recent=True, importance_keys=(), max_keys=(), min_keys=(),
                           ckpt_predicate=None, verbosity=logging.INFO):
        """As SpeechBrain's (without its growing shared default list of keys)."""
        importance_keys = list(importance_keys) + ([ckpt_recency] if keep_recent else [])
        super().save_and_keep_only(
            meta=meta, end_of_epoch=end_of_epoch, name=name, num_to_keep=num_to_keep,
            keep_recent=False, importance_keys=importance_keys, max_keys=list(max_keys),
            min_keys=list(min_keys), ckpt_predicate=ckpt_predicate, verbosity=verbosity,
        )

    # ------------------------------------------------------------ finding and loading

    def _report(self, path, problem):
        if str(path) not in self._reported:
            self._reported.add(str(path))
            logger.warning("%s: %s; skipped (not a complete checkpoint)", path, problem)

    def _read_checkpoint(self, folder):
        """``(Checkpoint, None)`` or ``(None, what is wrong)`` for one folder."""
        try:
            with open(folder / METAFNAME, encoding="utf-8") as handle:
                meta = yaml.safe_load(handle)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            return None, f"unreadable {METAFNAME} ({err})"
        if not isinstance(meta, dict) or "unixtime" not in meta or "end-of-epoch" not in meta:
            return None, f"{METAFNAME} is empty or incomplete"
        present = {p.name: p for p in folder.iterdir() if p.is_file()}
        paramfiles = {p.stem: p for n, p in present.items() if p.suffix == PARAMFILE_EXT}
        recorded = meta.get(FILES_KEY)
        if isinstance(recorded, dict):
            for entry, (size, _) in recorded.items():
                if entry not in present:
                    return None, f"{entry} is missing"
                if present[entry].stat().st_size != size:
                    return None, f"{entry} has {present[entry].stat().st_size} bytes, not {size}"
        else:  # written by SpeechBrain's Checkpointer: no record to check against
            empty = [n for n, p in paramfiles.items() if p.stat().st_size == 0]
            if empty:
                return None, f"{empty[0]}{PARAMFILE_EXT} is empty"
        return Checkpoint(folder, meta, paramfiles), None

    def list_checkpoints(self):
        """The complete checkpoints; incomplete folders are skipped with a warning."""
        good = []
        for folder in self._list_checkpoint_dirs():
            ckpt, problem = self._read_checkpoint(folder)
            if problem:
                self._report(folder, problem)
            else:
                good.append(ckpt)
        return good

    def verify(self, checkpoint):
        """None if the files match the hashes recorded at saving, else what differs."""
        for entry, (_, digest) in (checkpoint.meta.get(FILES_KEY) or {}).items():
            path = checkpoint.path / entry
            try:
                if _sha256(path) != digest:
                    return f"{entry} does not match the hash recorded when it was saved"
            except OSError as err:
                return f"{entry} is unreadable ({err})"
        return None

    def load_checkpoint(self, checkpoint):
        """Load ``checkpoint`` after checking its files; raises :class:`CheckpointError`."""
        problem = self.verify(checkpoint)
        if problem:
            raise CheckpointError(f"{checkpoint.path}: {problem}")
        try:
            super().load_checkpoint(checkpoint)
        except Exception as err:  # noqa: BLE001 - re-raised with the folder named
            if _is_damage(err):
                raise CheckpointError(f"{checkpoint.path}: damaged file ({err})") from err
            if isinstance(err, (RuntimeError, KeyError, ValueError)):
                raise CheckpointError(
                    f"{checkpoint.path}: does not fit this model or configuration "
                    f"({' '.join(str(err).split())[:300]}); use another output folder or delete it"
                ) from err
            raise

    def recover_if_possible(self, importance_key=None, max_key=None, min_key=None,
                            ckpt_predicate=None):
        """Load the best complete checkpoint; damaged ones are skipped with a warning.

        Loading with no key (how ``Brain.fit`` resumes) also rewinds the
        ``log_files`` to their size at that checkpoint when it is the most
        recent one and training goes on from it. Raises :class:`CheckpointError` when checkpoints exist but
        none can be loaded.
        """
        candidates = self.find_checkpoints(importance_key, max_key, min_key, ckpt_predicate)
        failures = []
        for ckpt in candidates:
            try:
                self.load_checkpoint(ckpt)
            except CheckpointError as err:
                if err.__cause__ is not None and not _is_damage(err.__cause__):
                    raise
                self._report(ckpt.path, str(err).split(": ", 1)[-1])
                failures.append(str(err))
                continue
            resuming = importance_key is None and max_key is None and min_key is None
            if resuming and ckpt_predicate is None:
                self._rewind_logs(ckpt)
            return ckpt
        if failures:
            raise CheckpointError(
                f"{self.checkpoints_dir}: none of the {len(failures)} checkpoints could be "
                f"loaded (first: {failures[0]}); delete the folder to start afresh"
            )
        logger.info("Would load a checkpoint here, but none found yet.")
        return None

    def _rewind_logs(self, ckpt):
        """Truncate the logs to their size at ``ckpt`` if training resumes from it.

        Only from the newest checkpoint, and only when an epoch counter (if
        any) has epochs left: a rerun of a finished run keeps its log.
        """
        from speechbrain.utils.epoch_loop import EpochCounter

        latest = max((c.meta["unixtime"] for c in self.list_checkpoints()), default=None)
        if latest is None or ckpt.meta["unixtime"] < latest or not if_main_process():
            return
        counters = [c for c in self.recoverables.values() if isinstance(c, EpochCounter)]
        if counters and all(c.current >= c.limit for c in counters):
            return
        for path, size in (ckpt.meta.get(LOGS_KEY) or {}).items():
            if path in self.log_files and os.path.isfile(path) and os.path.getsize(path) > size:
                with open(path, "r+b") as handle:
                    handle.truncate(size)
                logger.info("%s: rewound to checkpoint %s", path, ckpt.path.name)


__all__ = ["CheckpointError", "RNGStates", "SafeCheckpointer"]
