"""Skip-if-done writing of ``train``/``valid``/``test`` segment manifests.

The body the prepare scripts (``recipes/*/*_prepare.py``) share: name the
manifests, do nothing when they exist and were made with the same options,
otherwise read every part first (a bad input leaves no manifest), write each
part, log its size and record the options.
"""

import logging
import os

from speechbrain_align.dataio.manifest import write_segment_manifest
from speechbrain_align.utils.files import already_prepared, mark_prepared

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


def prepare_split_manifests(save_folder, options, build, names=SPLITS, skip_prep=False):
    """Write ``<save_folder>/<name>.csv`` for each part that ``build()`` returns.

    Arguments
    ---------
    save_folder : str
    options : dict
        Everything the manifests depend on (JSON-serialisable); a rerun with
        the same options and all manifests present does nothing.
    build : callable
        ``build() -> {name: list of Segment}`` with every name of ``names``;
        called only when the manifests must be (re)written.
    names : iterable of str
        Parts to write (an empty one writes nothing).
    skip_prep : bool
        Do nothing, only return the paths.

    Returns
    -------
    dict
        ``name -> manifest path``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_align.dataio.manifest import Segment
    >>> seg = Segment("/a.wav", 0.0, 0.5, "yes", "s1", "u1", 0)
    >>> folder = tempfile.mkdtemp()
    >>> out = prepare_split_manifests(folder, {"v": 1}, lambda: {"train": [seg]}, ["train"])
    >>> sorted(out), prepare_split_manifests(folder, {"v": 1}, None, ["train"]) == out
    (['train'], True)
    """
    outputs = {name: os.path.join(save_folder, f"{name}.csv") for name in names}
    if skip_prep or not outputs:
        return outputs
    paths = list(outputs.values())
    if already_prepared(paths, options):
        logger.info("%s: manifests already prepared, skipping", save_folder)
        return outputs
    parts = build()
    for name, path in outputs.items():
        segments = parts[name]
        write_segment_manifest(segments, path)
        logger.info(
            "%s: %d segments, %d utterances, %d speakers", path, len(segments),
            len({s.utt_id for s in segments}), len({s.spk_id for s in segments}),
        )
    mark_prepared(paths, options)
    return outputs
