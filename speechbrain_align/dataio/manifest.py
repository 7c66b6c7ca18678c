"""The segment manifest: one CSV row per spoken word token.

Every source of word boundaries (alignment text files, TextGrids, CTM, TIMIT
``.wrd``, isolated-word folders, the synthetic corpus) is turned into this one
format, which SpeechBrain's ``DynamicItemDataset.from_csv`` reads directly.

Columns (in this order, extra columns may follow):

========== ==============================================================
ID         unique segment id, ``<utt_id>_<position:04d>`` by default
wav        path of the audio file (absolute, or with ``$data_root``)
start      segment start in seconds
stop       segment end in seconds
duration   ``stop - start`` in seconds (SpeechBrain sorts on it)
word       the word label, normalised (lower case); may be empty for
           unsupervised segments
spk_id     speaker id
utt_id     utterance id; segments of one utterance share it
position   index of the word in its utterance (0, 1, ...), so that
           neighbours for skip-gram training can be found
========== ==============================================================
"""

import csv
import dataclasses
import io
import logging
import os

from speechbrain_align.utils.errors import UserError
from speechbrain_align.utils.files import atomic_write

logger = logging.getLogger(__name__)

SEGMENT_FIELDS = [
    "ID",
    "wav",
    "start",
    "stop",
    "duration",
    "word",
    "spk_id",
    "utt_id",
    "position",
]


class ManifestError(UserError, ValueError):
    """A manifest or an alignment file is malformed; the message names it."""


@dataclasses.dataclass
class Segment:
    """One spoken word token.

    Example
    -------
    >>> s = Segment(wav="/a.flac", start=0.5, stop=0.9, word="light",
    ...             spk_id="s1", utt_id="s1_u1", position=3)
    >>> s.ID, round(s.duration, 2)
    ('s1_u1_0003', 0.4)
    """

    wav: str
    start: float
    stop: float
    word: str
    spk_id: str
    utt_id: str
    position: int
    ID: str = ""
    extra: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not self.ID:
            self.ID = f"{self.utt_id}_{self.position:04d}"

    @property
    def duration(self):
        """Length of the segment in seconds."""
        return self.stop - self.start

    def row(self):
        """The CSV row as a dict (times rounded to 0.1 ms)."""
        out = {
            "ID": self.ID,
            "wav": self.wav,
            "start": f"{self.start:.4f}",
            "stop": f"{self.stop:.4f}",
            "duration": f"{self.duration:.4f}",
            "word": self.word,
            "spk_id": self.spk_id,
            "utt_id": self.utt_id,
            "position": str(self.position),
        }
        out.update({k: str(v) for k, v in self.extra.items()})
        return out


def validate_segments(segments, source="segments"):
    """Check ids are unique and every segment has ``stop > start >= 0``.

    Raises :class:`ManifestError` naming ``source`` and the offending id.
    """
    seen = set()
    for seg in segments:
        if seg.ID in seen:
            raise ManifestError(f"{source}: segment id {seg.ID!r} is repeated")
        seen.add(seg.ID)
        if not (seg.stop > seg.start >= 0):
            raise ManifestError(
                f"{source}: segment {seg.ID!r} has start={seg.start} "
                f"stop={seg.stop} (need 0 <= start < stop)"
            )


def write_segment_manifest(segments, path):
    """Validate ``segments`` and write them as a CSV manifest, atomically.

    Extra fields present in any segment's ``extra`` dict become columns after
    the standard ones. Returns the number of rows written.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "seg.csv")
    >>> segs = [Segment("/a.wav", 0.0, 0.3, "in", "s", "u", 0),
    ...         Segment("/a.wav", 0.3, 0.7, "the", "s", "u", 1)]
    >>> write_segment_manifest(segs, path)
    2
    >>> [r["word"] for r in read_segment_manifest(path)]
    ['in', 'the']
    """
    segments = list(segments)
    validate_segments(segments, source=os.fspath(path))
    extra = []
    for seg in segments:
        for key in seg.extra:
            if key not in extra and key not in SEGMENT_FIELDS:
                extra.append(key)
    with atomic_write(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SEGMENT_FIELDS + extra, restval="")
        writer.writeheader()
        for seg in segments:
            writer.writerow(seg.row())
    return len(segments)


def read_segment_manifest(path):
    """Read a segment manifest into a list of dicts with typed fields.

    ``start``, ``stop``, ``duration`` become floats and ``position`` an int.
    Errors name the file and the line (header = line 1). UTF-8 (with or
    without a byte-order mark) and UTF-16 with a byte-order mark are read;
    other encodings are an error naming the line.
    """
    path = os.fspath(path)
    handle = io.StringIO(read_manifest_text(path), newline="")
    rows = []
    with handle:
        reader = csv.DictReader(handle)
        missing = [f for f in SEGMENT_FIELDS if f not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{path}:1: manifest lacks columns {missing}")
        seen = set()
        for line_no, row in enumerate(reader, start=2):
            try:
                row["start"] = float(row["start"])
                row["stop"] = float(row["stop"])
                row["duration"] = float(row["duration"])
                row["position"] = int(row["position"])
            except (TypeError, ValueError) as err:
                raise ManifestError(f"{path}:{line_no}: bad number ({err})") from err
            if not row["stop"] > row["start"] >= 0:
                raise ManifestError(
                    f"{path}:{line_no}: segment {row['ID']!r} has "
                    f"start={row['start']} stop={row['stop']}"
                )
            if row["ID"] in seen:
                raise ManifestError(
                    f"{path}:{line_no}: segment id {row['ID']!r} is repeated"
                )
            seen.add(row["ID"])
            rows.append(row)
    return rows


def read_manifest_text(path, what="manifest"):
    """The decoded text of a CSV file; errors name the file (and line).

    Example
    -------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "m.csv")
    >>> _ = open(p, "wb").write(b"\\xef\\xbb\\xbfID,wav")  # with a UTF-8 byte-order mark
    >>> read_manifest_text(p)
    'ID,wav'
    """
    from speechbrain_align.dataio.textgrid import decode_text_file

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise ManifestError(f"{path}: cannot open {what} ({err})") from err
    return decode_text_file(data, path)


def group_by_utterance(rows):
    """Group manifest rows by ``utt_id``, each group sorted by ``position``.

    Returns a dict ``utt_id -> list of rows`` in first-seen order.
    """
    groups = {}
    for row in rows:
        groups.setdefault(row["utt_id"], []).append(row)
    for utt_rows in groups.values():
        utt_rows.sort(key=lambda r: r["position"])
    return groups
