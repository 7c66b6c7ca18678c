"""Segment manifests from real word-boundary sources.

Every reader returns a list of :class:`~speechbrain_align.dataio.manifest.Segment`
(one per spoken word token) that :func:`write_segment_manifest` writes as CSV.
Common rules:

* words are normalised with :func:`normalize_text` (NFKC, lower case, folded
  apostrophes) and stripped; silence labels (``""``, ``sil``, ``sp``,
  ``<eps>``, ...; see :data:`SILENCE_WORDS`) are dropped;
* ``position`` counts only the kept words of an utterance, and segment IDs
  are ``<utt_id>_<position:04d>``;
* bad input raises :class:`AlignmentError` (or
  :class:`~speechbrain_align.dataio.audio.AudioError`) naming the file and
  line; with ``on_error="skip"`` the bad utterance (or file) is dropped and a
  single counted warning is logged per call;
* with ``check_audio=True`` every audio file must exist, be readable and cover
  its segments; files that are not 16 kHz trigger the resampling warning of
  :mod:`speechbrain_align.dataio.audio` (once per rate).

Sources: LibriSpeech alignment text files (:func:`read_librispeech_alignment`),
Montreal Forced Aligner TextGrids (:func:`read_textgrid`), Kaldi CTM
(:func:`read_ctm`), TIMIT ``.wrd`` (:func:`read_timit_wrd`) and isolated-word
folders in the Speech Commands layout (:func:`read_isolated_words`).
"""

import hashlib
import logging
import os
import re

from speechbrain_align.dataio.audio import AudioError, audio_info, check_segments_audio
from speechbrain_align.dataio.manifest import ManifestError, Segment
from speechbrain_align.dataio.textgrid import read_text_file, read_textgrid_tiers
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


# --------------------------------------------------------------------------
# LibriSpeech alignment text files
# --------------------------------------------------------------------------


def librispeech_wav(audio_root, utt_id, ext=".flac"):
    """``<audio_root>/<spk>/<chapter>/<utt_id><ext>`` for a LibriSpeech id.

    Example
    -------
    >>> librispeech_wav("/data/dev-clean", "84-121123-0003")
    '/data/dev-clean/84/121123/84-121123-0003.flac'
    """
    match = _LIBRI_ID.match(utt_id)
    if not match:
        raise ValueError(f"{utt_id!r} is not a LibriSpeech id <spk>-<chapter>-<n>")
    return os.path.join(audio_root, match.group(1), match.group(2), utt_id + ext)


def _parse_librispeech_alignment(path, audio_root, ext, policy):
    text = read_text_file(path)
    utts = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            match = _LIBRI_LINE.match(line.strip())
            if not match:
                raise AlignmentError(
                    f'{path}:{line_no}: expected <utt_id> "<words>" "<end times>"'
                )
            utt_id, words, ends = match.groups()
            if not _LIBRI_ID.match(utt_id):
                raise AlignmentError(
                    f"{path}:{line_no}: {utt_id!r} is not a LibriSpeech id <spk>-<chapter>-<n>"
                )
            words = words.split(",")
            try:
                times = [float(t) for t in ends.split(",")]
            except ValueError as err:
                raise AlignmentError(f"{path}:{line_no}: bad time ({err})") from err
            if len(words) != len(times):
                raise AlignmentError(
                    f"{path}:{line_no}: {len(words)} words but {len(times)} times"
                )
        except AlignmentError as err:
            policy.total += 1
            policy.fail(err)
            continue
        if audio_root is None:
            wav = os.path.join(os.path.dirname(os.path.abspath(path)), utt_id + ext)
        else:
            wav = librispeech_wav(audio_root, utt_id, ext)
        utt = _Utterance(utt_id, utt_id.split("-")[0], wav, path, line_no)
        utt.rounding = max(time_rounding(t) for t in ends.split(","))
        start = 0.0
        for word, stop in zip(words, times):
            utt.tokens.append((start, stop, word, line_no))
            start = stop
        utts.append(utt)
    return utts


def read_librispeech_alignment(
    path, audio_root=None, ext=".flac", on_error="raise", check_audio=True
):
    """Read one LibriSpeech alignment file (``<spk>-<chapter>.alignment.txt``).

    Each line is ``<utt_id> ",W1,W2,,W3," "t0,t1,t2,t3,t4,t5"``: comma-separated
    words (empty = silence) and the END time of each in seconds; a word
    starts where the previous token ended.

    Arguments
    ---------
    path : str
        The alignment file.
    audio_root : str, optional
        The split folder (``.../LibriSpeech/dev-clean``); audio is
        ``<audio_root>/<spk>/<chapter>/<utt_id><ext>``. By default, the
        folder of the alignment file (which sits in ``<spk>/<chapter>/``).
    ext : str
        Audio file extension.
    on_error : "raise" or "skip"
        Skip bad lines/utterances with one counted warning instead of raising.
    check_audio : bool
        Check that the audio exists and covers every word.

    Returns
    -------
    list of Segment
    """
    return _read_files(
        [path], lambda p, policy: _parse_librispeech_alignment(p, audio_root, ext, policy),
        "utterances", on_error, check_audio,
    )


def find_files(folder, suffixes):
    """Sorted (natural order) paths under ``folder`` whose names end with a suffix."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            if name.endswith(tuple(suffixes)):
                found.append(os.path.join(dirpath, name))
    return sorted(found, key=_natural_key)


def read_librispeech_alignments(
    folder, audio_root=None, ext=".flac", on_error="raise", check_audio=True
):
    """Read every ``*.alignment.txt`` under ``folder`` (see :func:`read_librispeech_alignment`).

    Segments come out ordered by speaker, chapter and utterance, so that the
    utterances of a chapter are contiguous.
    """
    files = _find_files_or_fail(folder, [".alignment.txt"], "*.alignment.txt")
    return _read_files(
        files, lambda p, policy: _parse_librispeech_alignment(p, audio_root, ext, policy),
        "utterances/files", on_error, check_audio, sort_key=lambda u: _natural_key(u.utt_id),
    )


# --------------------------------------------------------------------------
# Montreal Forced Aligner TextGrids
# --------------------------------------------------------------------------


def _words_tier(tiers, tier, path):
    named = [t for t in tiers if t.name == tier]
    if not named:  # MFA with speakers names tiers "<speaker> - words"
        named = [t for t in tiers if t.name.lower().endswith("- " + tier.lower())]
    if len(named) != 1:
        names = [t.name for t in tiers]
        raise AlignmentError(
            f"{path}:1: need exactly one tier named {tier!r}; tiers are {names}"
        )
    if named[0].tier_class != "IntervalTier":
        raise AlignmentError(f"{path}:{named[0].line}: tier {tier!r} is not an IntervalTier")
    return named[0]


def _textgrid_utterance(path, wav, spk_id, utt_id, tier):
    words = _words_tier(read_textgrid_tiers(path), tier, path)
    utt = _Utterance(utt_id, spk_id, wav, str(path), words.line)
    for item in words.items:
        utt.tokens.append((item.xmin, item.xmax, item.text, item.line))
    return utt


def read_textgrid(
    path, wav, spk_id, utt_id=None, tier="words", on_error="raise", check_audio=True
):
    """Read the word tier of one Montreal Forced Aligner TextGrid.

    Arguments
    ---------
    path : str
        A TextGrid in Praat's long or short text format.
    wav : str
        Its audio file.
    spk_id : str
        Speaker id.
    utt_id : str, optional
        Utterance id; by default the file name without ``.TextGrid``.
    tier : str
        Tier name (also matches MFA's ``"<speaker> - words"``).
    on_error, check_audio
        As in :func:`read_librispeech_alignment`.
    """
    if utt_id is None:
        utt_id = _textgrid_stem(path)
    return _read_files(
        [path], lambda p, _: [_textgrid_utterance(p, wav, spk_id, utt_id, tier)],
        "TextGrid files", on_error, check_audio,
    )


def _textgrid_stem(path):
    name = os.path.basename(path)
    return name[: -len(".textgrid")] if name.lower().endswith(".textgrid") else name


def _find_audio(base):
    for ext in AUDIO_EXTENSIONS:
        if os.path.isfile(base + ext):
            return base + ext
    return base + AUDIO_EXTENSIONS[0]


def _textgrid_wav_speaker(path, utt_id, folder, audio_root, wav_for, spk_for):
    """Audio path and speaker of one TextGrid of :func:`read_textgrids`."""
    try:
        if wav_for is not None:
            wav = wav_for(utt_id, path)
        else:
            rel = os.path.relpath(os.path.dirname(path), folder)
            base = os.path.dirname(path) if audio_root is None else os.path.join(audio_root, rel)
            wav = _find_audio(os.path.normpath(os.path.join(base, utt_id)))
        if spk_for is not None:
            spk_id = spk_for(utt_id, path)
        else:
            spk_id = os.path.basename(os.path.dirname(os.path.abspath(path)))
    except (KeyError, ValueError) as err:
        raise AlignmentError(f"{path}:1: {err}") from err
    return wav, spk_id


def read_textgrids(
    folder,
    audio_root=None,
    wav_for=None,
    spk_for=None,
    tier="words",
    on_error="raise",
    check_audio=True,
):
    """Read every ``*.TextGrid`` under ``folder`` (MFA output layout).

    Arguments
    ---------
    folder : str
        MFA output folder, ``<speaker>/<utt>.TextGrid`` or deeper.
    audio_root : str, optional
        Corpus folder that mirrors ``folder``: the audio of
        ``folder/a/b/u.TextGrid`` is ``audio_root/a/b/u.flac`` (or ``.wav``).
        By default, next to the TextGrid.
    wav_for : callable, optional
        ``wav_for(utt_id, textgrid_path) -> audio path``; overrides ``audio_root``.
    spk_for : callable, optional
        ``spk_for(utt_id, textgrid_path) -> speaker``; by default the name of
        the TextGrid's folder.
    tier, on_error, check_audio
        As in :func:`read_textgrid`.
    """
    files = _find_files_or_fail(folder, [".TextGrid", ".textgrid"], "*.TextGrid")

    def parse(path, _):
        utt_id = _textgrid_stem(path)
        wav, spk_id = _textgrid_wav_speaker(path, utt_id, folder, audio_root, wav_for, spk_for)
        return [_textgrid_utterance(path, wav, spk_id, utt_id, tier)]

    return _read_files(files, parse, "TextGrid files", on_error, check_audio,
                       sort_key=lambda u: _natural_key(u.utt_id))


# --------------------------------------------------------------------------
# Kaldi CTM
# --------------------------------------------------------------------------


def read_kaldi_map(path):
    """Read a Kaldi two-column table (``wav.scp``, ``utt2spk``) into a dict.

    Errors name the file and line; pipe commands (``... |``) are refused.
    """
    table = {}
    for line_no, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        if len(parts) != 2:
            raise AlignmentError(f"{path}:{line_no}: expected '<key> <value>'")
        key, value = parts[0], parts[1].strip()
        if value.endswith("|"):
            raise AlignmentError(
                f"{path}:{line_no}: piped commands are not supported; give a file path"
            )
        if key in table:
            raise AlignmentError(f"{path}:{line_no}: key {key!r} is repeated")
        table[key] = value
    return table


def _as_lookup(mapping, what):
    if mapping is None:
        return None
    if callable(mapping):
        return mapping
    if isinstance(mapping, (str, os.PathLike)):
        mapping = read_kaldi_map(mapping)
    table = dict(mapping)

    def lookup(key):
        if key not in table:
            raise KeyError(f"no {what} for utterance {key!r}")
        return table[key]

    return lookup


def _default_speaker(utt_id):
    return utt_id.split("-")[0] if "-" in utt_id else utt_id


def read_ctm(path, wav_map, spk_map=None, on_error="raise", check_audio=True):
    """Read a Kaldi CTM file: ``<utt> <channel> <start> <dur> <word> [<conf>]``.

    Arguments
    ---------
    path : str
        The CTM file. Lines of one utterance need not be contiguous; they are
        ordered by start time.
    wav_map : dict, str or callable
        Utterance -> audio path: a dict, a ``wav.scp``-like file, or a function.
    spk_map : dict, str or callable, optional
        Utterance -> speaker (dict, ``utt2spk`` file or function). By default
        the part of the utterance id before the first ``-`` (Kaldi ids start
        with the speaker).
    on_error, check_audio
        As in :func:`read_librispeech_alignment`.
    """
    policy = _ErrorPolicy(on_error, "utterances")
    wav_of = _as_lookup(wav_map, "audio")
    spk_of = _as_lookup(spk_map, "speaker") or _default_speaker
    try:
        text = read_text_file(path)
    except ManifestError as err:
        policy.total += 1
        policy.fail(err)
        policy.report()
        return []
    utts, bad_utts = {}, set()
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith(";;"):
            continue
        parts = line.split()
        utt_id = parts[0]
        if utt_id in bad_utts:
            continue
        try:
            if len(parts) not in (5, 6):
                raise AlignmentError(
                    f"{path}:{line_no}: expected 5 or 6 fields "
                    f"(<utt> <channel> <start> <dur> <word> [<conf>]), found {len(parts)}"
                )
            try:
                start, dur = float(parts[2]), float(parts[3])
            except ValueError as err:
                raise AlignmentError(f"{path}:{line_no}: bad number ({err})") from err
            if utt_id not in utts:
                try:
                    wav, spk = wav_of(utt_id), spk_of(utt_id)
                except KeyError as err:
                    raise AlignmentError(f"{path}:{line_no}: {err.args[0]}") from err
                utts[utt_id] = _Utterance(utt_id, spk, wav, path, line_no)
        except AlignmentError as err:
            policy.total += 1
            policy.fail(err)
            bad_utts.add(utt_id)
            utts.pop(utt_id, None)
            continue
        utts[utt_id].tokens.append((start, start + dur, parts[4], line_no))
        utts[utt_id].rounding = max(
            utts[utt_id].rounding, time_rounding(parts[2]) + time_rounding(parts[3])
        )
    for utt in utts.values():
        utt.tokens.sort(key=lambda tok: (tok[0], tok[1]))
    segs = _collect(utts.values(), policy, check_audio)
    policy.report()
    return segs


# --------------------------------------------------------------------------
# TIMIT .wrd
# --------------------------------------------------------------------------


def timit_speaker(folder):
    """``(dialect_region, speaker)`` from a TIMIT speaker folder name.

    Handles the sample layout (``dr1-fvmh0``) and the full layout
    (``.../DR1/FVMH0``); both give lower-case ids.

    Example
    -------
    >>> timit_speaker("/x/timit_sample/dr1-fvmh0"), timit_speaker("/x/TRAIN/DR1/FVMH0")
    (('dr1', 'fvmh0'), ('dr1', 'fvmh0'))
    """
    folder = os.path.normpath(os.fspath(folder))
    name = os.path.basename(folder).lower()
    if "-" in name:
        region, speaker = name.split("-", 1)
        return region, speaker
    return os.path.basename(os.path.dirname(folder)).lower(), name


def read_timit_wrd(
    path, wav=None, spk_id=None, utt_id=None, sample_rate=16000, on_error="raise",
    check_audio=True,
):
    """Read one TIMIT ``.wrd`` file (``<start sample> <end sample> <word>``).

    Sample offsets are at ``sample_rate`` (16 kHz). By default the audio is the
    ``.wav``/``.WAV`` next to it, the speaker comes from the folder name
    (:func:`timit_speaker`) and ``utt_id`` is ``<speaker>_<sentence>``
    (``fvmh0_sa1``: sentence ids repeat across speakers). Words that overlap
    their neighbour (TIMIT words can share a boundary phone) are kept as given.
    """
    return _read_files(
        [path], lambda p, _: [_timit_utterance(p, wav, spk_id, utt_id, sample_rate)],
        "TIMIT files", on_error, check_audio,
    )


def _timit_utterance(path, wav, spk_id, utt_id, sample_rate):
    path = os.fspath(path)
    stem = os.path.basename(path)[: -len(".wrd")]
    if spk_id is None:
        spk_id = timit_speaker(os.path.dirname(os.path.abspath(path)))[1]
    if utt_id is None:
        utt_id = f"{spk_id}_{stem.lower()}"
    if wav is None:
        wav = _find_audio(os.path.join(os.path.dirname(path), stem))
    utt = _Utterance(utt_id, spk_id, wav, path, 1)
    for line_no, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3:
            raise AlignmentError(f"{path}:{line_no}: expected '<start> <end> <word>'")
        try:
            start, stop = int(parts[0]) / sample_rate, int(parts[1]) / sample_rate
        except ValueError as err:
            raise AlignmentError(f"{path}:{line_no}: bad sample offset ({err})") from err
        utt.tokens.append((start, stop, parts[2], line_no))
    return utt


def read_timit(folder, on_error="raise", check_audio=True, drop_sa=False):
    """Read every ``.wrd``/``.WRD`` under ``folder`` (sample or full TIMIT layout).

    Arguments
    ---------
    folder : str
        ``timit_sample`` (``dr1-fvmh0/sa1.wrd``) or a TIMIT split/root
        (``TRAIN/DR1/FVMH0/SA1.WRD``).
    drop_sa : bool
        Drop the two dialect sentences (``sa1``, ``sa2``) read by every speaker.
    on_error, check_audio
        As in :func:`read_librispeech_alignment`.
    """
    files = _find_files_or_fail(folder, [".wrd", ".WRD"], ".wrd")
    if drop_sa:
        files = [p for p in files if not os.path.basename(p).lower().startswith("sa")]
    return _read_files(
        files, lambda p, _: [_timit_utterance(p, None, None, None, 16000)],
        "TIMIT files", on_error, check_audio,
        sort_key=lambda u: (u.spk_id, _natural_key(u.utt_id)),
    )


# --------------------------------------------------------------------------
# Isolated-word folders (Speech Commands)
# --------------------------------------------------------------------------


def _isolated_word_files(word_dir, extensions):
    """``(path, speaker, stem)`` of the audio files of one word folder.

    Files directly in the folder take the speaker from their name
    (``<speaker>_nohash_<n>``, else the part before the first ``_``); files
    in sub-folders (``<word>/<speaker>/<file>``) take the sub-folder's name.
    """
    found = []
    for name in sorted(os.listdir(word_dir), key=_natural_key):
        path = os.path.join(word_dir, name)
        if os.path.isdir(path) and not name.startswith(("_", ".")):
            found += [
                (os.path.join(path, f), name, f"{name}_{os.path.splitext(f)[0]}")
                for f in sorted(os.listdir(path), key=_natural_key)
                if f.lower().endswith(extensions)
            ]
        elif name.lower().endswith(extensions):
            stem = os.path.splitext(name)[0]
            speaker = stem.split("_nohash_")[0] if "_nohash_" in stem else stem.split("_")[0]
            found.append((path, speaker, stem))
    return found


def read_isolated_words(
    folder, words=None, extensions=(".wav", ".flac", ".ogg"), on_error="raise"
):
    """One segment per file of an isolated-word corpus (one folder per word).

    ``folder/<word>/<speaker>_nohash_<n>.wav`` (the Speech Commands layout,
    any audio ``extensions``, any sample rate) or
    ``folder/<word>/<speaker>/<file>.wav``; folders starting with ``_``
    (``_background_noise_``) or ``.`` are ignored. Each segment covers the
    whole file (``start=0``, ``stop`` = its duration, read from the audio),
    ``utt_id`` is ``<word>_<file stem>``.

    Arguments
    ---------
    folder : str
    words : list of str, optional
        Word folders to read; by default every folder.
    extensions : tuple of str
        Audio file name endings (lower case; matched case-insensitively).
    on_error : "raise" or "skip"
        Missing word folders, unreadable or empty audio.
    """
    policy = _ErrorPolicy(on_error, "audio files")
    if not os.path.isdir(folder):
        raise AlignmentError(f"{folder}: not a folder")
    if words is None:
        words = sorted(
            d for d in os.listdir(folder)
            if os.path.isdir(os.path.join(folder, d)) and not d.startswith(("_", "."))
        )
        if not words:
            raise AlignmentError(f"{folder}: no word folders (expected <folder>/<word>/<audio files>)")
    segs = []
    for word in words:
        word_dir = os.path.join(folder, word)
        if not os.path.isdir(word_dir):
            policy.total += 1
            policy.fail(AlignmentError(f"{word_dir}: word folder not found"))
            continue
        label = normalize_word(word)
        for path, speaker, stem in _isolated_word_files(word_dir, tuple(e.lower() for e in extensions)):
            policy.total += 1
            try:
                rate, frames = audio_info(path)
                if frames <= 0:
                    raise AudioError(f"{path}: audio is empty")
                seg = Segment(
                    wav=path,
                    start=0.0,
                    stop=frames / rate,
                    word=label,
                    spk_id=speaker,
                    utt_id=f"{word}_{stem}",
                    position=0,
                )
                check_segments_audio([seg], path)
            except AudioError as err:
                policy.fail(err)
                continue
            segs.append(seg)
    policy.report()
    return segs


# --------------------------------------------------------------------------
# Speaker-disjoint splits
# --------------------------------------------------------------------------


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
