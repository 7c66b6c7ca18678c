"""LibriSpeech alignment text files (``<utt> "w1,w2,..." "t1,t2,..."``, end times)."""

import os
import re

from speechbrain_align.dataio.alignments.common import (
    AlignmentError,
    _find_files_or_fail,
    _natural_key,
    _read_files,
    _Utterance,
    time_rounding,
)
from speechbrain_align.dataio.textgrid import read_text_file


_LIBRI_ID = re.compile(r"^(\d+)-(\d+)-(\d+)$")
_LIBRI_LINE = re.compile(r'^(\S+)\s+"([^"]*)"\s+"([^"]*)"\s*$')

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
