"""Speaker-disjoint splits by a hash of the speaker name (stable as a corpus grows)."""

import hashlib
import logging

from speechbrain_align.dataio.alignments.common import AlignmentError

logger = logging.getLogger(__name__)

def speaker_bucket(speaker, salt=""):
    """A stable number in ``[0, 1)`` from a speaker id (SHA-1 based).

    Example
    -------
    >>> speaker_bucket("0a7c2a8d") == speaker_bucket("0a7c2a8d")
    True
    >>> 0 <= speaker_bucket("0a7c2a8d") < 1
    True
    """
    digest = hashlib.sha1((salt + speaker).encode("utf-8")).hexdigest()
    return int(digest[:15], 16) / 16**15


def split_speakers_by_hash(speakers, valid_fraction, test_fraction, salt=""):
    """Assign each speaker to ``train``/``valid``/``test`` from its hash.

    Deterministic, independent of which other speakers are present (adding
    data never moves a speaker), and speaker-disjoint by construction. With
    few speakers the hash can leave a part empty: a part with a positive
    fraction and no speaker raises :class:`AlignmentError` (say how many
    speakers there are and what to change); a part with one speaker (or the
    train part with one) logs a warning, as its scores say nothing about
    other speakers.

    Example
    -------
    >>> split = split_speakers_by_hash([f"s{i}" for i in range(200)], 0.1, 0.1)
    >>> sorted(set(split.values()))
    ['test', 'train', 'valid']
    """
    out = {}
    for spk in speakers:
        bucket = speaker_bucket(spk, salt)
        if bucket < valid_fraction:
            out[spk] = "valid"
        elif bucket < valid_fraction + test_fraction:
            out[spk] = "test"
        else:
            out[spk] = "train"
    fractions = {"train": 1.0 - valid_fraction - test_fraction,
                 "valid": valid_fraction, "test": test_fraction}
    for part, fraction in fractions.items():
        n = sum(1 for p in out.values() if p == part)
        if fraction > 0 and n == 0:
            raise AlignmentError(
                f"speaker split: none of the {len(out)} speakers falls in {part!r} "
                f"({part} fraction {fraction:g}); use more speakers, a larger fraction, "
                "or another salt"
            )
        if fraction > 0 and n == 1:
            logger.warning(
                "speaker split: %r has a single speaker (of %d); its scores say little "
                "about other speakers", part, len(out),
            )
    return out
