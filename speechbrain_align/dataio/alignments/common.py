"""What every word-boundary reader shares: silence labels, the error policy, checks of times and audio."""

import logging
import os
import re

from speechbrain_align.dataio.audio import AudioError, audio_info, check_segments_audio
from speechbrain_align.dataio.manifest import ManifestError, Segment
from speechbrain_align.dataio.tokenize import normalize_text

logger = logging.getLogger(__name__)

#: Labels treated as silence/non-speech and dropped (compared after normalising).
SILENCE_WORDS = frozenset(
    {"", "sil", "sp", "<eps>", "<sil>", "!sil", "<s>", "</s>", "h#", "pau"}
)
AUDIO_EXTENSIONS = (".flac", ".wav", ".WAV", ".WAV.wav", ".FLAC")
_LIBRI_ID = re.compile(r"^(\d+)-(\d+)-(\d+)$")
_LIBRI_LINE = re.compile(r'^(\S+)\s+"([^"]*)"\s+"([^"]*)"\s*$')


class AlignmentError(ManifestError):
    """An alignment file is malformed; the message names the file and line."""


def normalize_word(word):
    """Normalise a word label; returns ``""`` for silence labels.

    Example
    -------
    >>> normalize_word("DON'T"), normalize_word(" sil "), normalize_word("<eps>")
    ("don't", '', '')
    """
    word = normalize_text(word).strip()
    return "" if word in SILENCE_WORDS else word


def _natural_key(text):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(text))]


class _ErrorPolicy:
    """Raise at once, or collect skipped items and log one counted warning."""

    def __init__(self, on_error, what):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        self.on_error = on_error
        self.what = what
        self.total = 0
        self.skipped = []

    def fail(self, err):
        if self.on_error == "raise":
            raise err
        self.skipped.append(str(err))

    def report(self):
        if self.skipped:
            logger.warning(
                "skipped %d of %d %s with bad input; first: %s",
                len(self.skipped),
                self.total,
                self.what,
                self.skipped[0],
            )


def time_rounding(text):
    """Half a unit of the last decimal of a time written as ``text`` (seconds).

    The most a time so written can be off; 0 for other notations.

    Example
    -------
    >>> time_rounding("1.36"), time_rounding("1.359"), time_rounding("2e-3")
    (0.005, 0.0005, 0.0)
    """
    text = text.strip()
    if "." not in text or not text.replace(".", "", 1).lstrip("+-").isdigit():
        return 0.0
    return 0.5 * 10.0 ** -len(text.split(".", 1)[1])


class _Utterance:
    """Tokens of one utterance before normalisation: ``(start, stop, word, line)``.

    ``rounding`` is how far (seconds) a token's end may be off because of
    how the source format wrote it; an end past the audio by at most that
    much is moved to the end of the audio.
    """

    def __init__(self, utt_id, spk_id, wav, source, line):
        self.utt_id = utt_id
        self.spk_id = spk_id
        self.wav = wav
        self.source = source
        self.line = line
        self.tokens = []
        self.rounding = 0.0
        self.overlaps = []

    def segments(self, check_audio):
        """Validate times (and audio) and return the kept-word segments.

        Words that start before the previous word ends (beyond the rounding)
        are kept and listed in ``self.overlaps`` (reported by the reader).
        """
        segs, lines = [], []
        self.overlaps = []
        for start, stop, label, line in self.tokens:
            word = normalize_word(label)
            # Silence may have zero length; words may not. Neither may run backwards.
            if not ((stop > start or (not word and stop == start)) and start >= 0):
                raise AlignmentError(
                    f"{self.source}:{line}: word {label!r} has start={start:.4f} "
                    f"stop={stop:.4f} (need 0 <= start < stop)"
                )
            if not word:
                continue
            if segs and start < segs[-1].stop - 2 * self.rounding - 1e-6:
                self.overlaps.append(
                    f"{self.source}:{line}: {word!r} starts at {start:.4f} s, before "
                    f"{segs[-1].word!r} ends at {segs[-1].stop:.4f} s"
                )
            seg = Segment(
                wav=self.wav,
                start=start,
                stop=stop,
                word=word,
                spk_id=self.spk_id,
                utt_id=self.utt_id,
                position=len(segs),
            )
            segs.append(seg)
            lines.append(line)
        if check_audio:
            self._check_audio(segs, lines)
        return segs

    def _check_audio(self, segs, lines):
        try:
            rate, frames = audio_info(self.wav)
        except AudioError as err:
            raise AudioError(f"{self.source}:{self.line}: {err}") from err
        length = frames / rate
        for seg, line in zip(segs, lines):
            if seg.stop > length + 1.0 / rate + self.rounding:
                raise AudioError(
                    f"{self.source}:{line}: word {seg.word!r} [{seg.start:.4f}, "
                    f"{seg.stop:.4f}] s falls outside {self.wav}: it ends "
                    f"{1000 * (seg.stop - length):.2f} ms after the audio "
                    f"({frames} samples = {length:.5f} s; allowed: one sample"
                    + (f" + {1000 * self.rounding:g} ms of rounding)" if self.rounding else ")")
                )
            if seg.stop > length:  # within the rounding: end at the audio's end
                seg.stop = length
                if seg.stop <= seg.start:
                    raise AudioError(
                        f"{self.source}:{line}: word {seg.word!r} starts at {seg.start:.4f} s, "
                        f"at or after the end of {self.wav} ({length:.5f} s)"
                    )
        # Same checks again through the shared helper: it warns (once per
        # rate) about audio that will be resampled to 16 kHz.
        check_segments_audio(segs[:1], f"{self.source}:{self.line}", tolerance=self.rounding)


def _collect(utterances, policy, check_audio):
    out, overlaps = [], []
    for utt in utterances:
        policy.total += 1
        try:
            out.extend(utt.segments(check_audio))
        except ManifestError as err:
            policy.fail(err)
            continue
        overlaps.extend(utt.overlaps)
    if overlaps:
        logger.warning(
            "%d word(s) overlap the word before them (their segments keep these times); "
            "first: %s", len(overlaps), overlaps[0],
        )
    return out


def _read_files(paths, parse, what, on_error, check_audio, sort_key=None):
    """Segments of the utterances that ``parse(path, policy)`` returns for each file.

    A file whose parsing raises :class:`ManifestError` raises, or is skipped
    and counted (``on_error``); the utterances are sorted by ``sort_key``
    (when given), then validated by :func:`_collect`.
    """
    policy = _ErrorPolicy(on_error, what)
    utts = []
    for path in paths:
        try:
            utts.extend(parse(path, policy))
        except ManifestError as err:
            policy.total += 1
            policy.fail(err)
    if sort_key is not None:
        utts.sort(key=sort_key)
    segs = _collect(utts, policy, check_audio)
    policy.report()
    return segs


def _find_files_or_fail(folder, suffixes, description):
    files = find_files(folder, suffixes)
    if not files:
        raise AlignmentError(f"{folder}: no {description} files found")
    return files


def find_files(folder, suffixes):
    """Sorted (natural order) paths under ``folder`` whose names end with a suffix."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            if name.endswith(tuple(suffixes)):
                found.append(os.path.join(dirpath, name))
    return sorted(found, key=_natural_key)


def _find_audio(base):
    for ext in AUDIO_EXTENSIONS:
        if os.path.isfile(base + ext):
            return base + ext
    return base + AUDIO_EXTENSIONS[0]
