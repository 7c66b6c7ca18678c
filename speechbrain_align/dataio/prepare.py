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


def split_speakers_by_fold(speakers, n_folds, fold, valid_fraction=0.1, salt=""):
    """Speaker-disjoint cross-validation: fold ``fold`` of ``n_folds`` is the test set.

    A speaker's SHA-1 bucket (:func:`~speechbrain_align.dataio.alignments.speaker_bucket`)
    picks its fold, so the ``n_folds`` test sets partition the speakers and a
    speaker never moves fold when other speakers are added. Of the other
    speakers, a second (salted) hash sends about ``valid_fraction`` of all
    speakers to ``valid``; the rest are ``train``.

    Arguments
    ---------
    speakers : iterable of str
    n_folds : int
        At least 2.
    fold : int
        In ``[0, n_folds)``.
    valid_fraction : float
        Share of all speakers used for validation (model selection).
    salt : str
        Changes the assignment (for another draw of folds).

    Returns
    -------
    dict speaker -> "train" | "valid" | "test"

    Example
    -------
    >>> speakers = [f"s{i}" for i in range(500)]
    >>> tests = [{s for s, p in split_speakers_by_fold(speakers, 5, k).items() if p == "test"}
    ...          for k in range(5)]
    >>> sum(len(t) for t in tests) == 500 and len(set.union(*tests)) == 500
    True
    """
    from speechbrain_align.dataio.alignments import speaker_bucket

    n_folds, fold = int(n_folds), int(fold)
    if n_folds < 2 or not 0 <= fold < n_folds:
        raise ValueError(f"need n_folds >= 2 and 0 <= fold < n_folds, got fold {fold} of {n_folds}")
    if not 0 <= valid_fraction < 1 - 1 / n_folds:
        raise ValueError(f"valid_fraction {valid_fraction} must lie in [0, {1 - 1 / n_folds:.3g})")
    share = valid_fraction / (1 - 1 / n_folds)  # of the non-test speakers
    out = {}
    for spk in speakers:
        if int(speaker_bucket(spk, salt) * n_folds) == fold:
            out[spk] = "test"
        else:
            out[spk] = "valid" if speaker_bucket(spk, salt + "valid") < share else "train"
    return out


def check_split_speakers(parts, source, min_speakers=2):
    """Raise ``ManifestError`` when a split is empty or has too few speakers.

    Arguments
    ---------
    parts : dict name -> list of Segment
    source : str
        The data named in the message (e.g. the corpus folder).
    min_speakers : int
        Fewest distinct ``spk_id`` per split (2: a one-speaker split measures
        nothing about other speakers).

    Example
    -------
    >>> from speechbrain_align.dataio.manifest import Segment
    >>> segs = [Segment("/a.wav", 0.0, 1.0, "yes", s, s, 0) for s in ("s1", "s2")]
    >>> check_split_speakers({"train": segs}, "corpus")
    >>> check_split_speakers({"train": segs, "test": segs[:1]}, "corpus")
    Traceback (most recent call last):
    ...
    speechbrain_align.dataio.manifest.ManifestError: corpus: the test split has 1 clip(s) of 1 speaker(s) (need at least 2 speakers); use more speakers or other split fractions
    """
    from speechbrain_align.dataio.manifest import ManifestError

    for name, segments in parts.items():
        speakers = {s.spk_id for s in segments}
        if len(speakers) < min_speakers:
            raise ManifestError(
                f"{source}: the {name} split has {len(segments)} clip(s) of {len(speakers)} "
                f"speaker(s) (need at least {min_speakers} speakers); use more speakers or "
                "other split fractions"
            )
