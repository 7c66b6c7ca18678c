"""TIMIT ``.wrd`` files (sample offsets) with their audio, in the TIMIT folder layout."""

import os

from speechbrain_align.dataio.alignments.common import (
    AlignmentError,
    _find_audio,
    _find_files_or_fail,
    _natural_key,
    _read_files,
    _Utterance,
)
from speechbrain_align.dataio.textgrid import read_text_file

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
