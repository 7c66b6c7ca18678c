"""Kaldi CTM files (``utt channel start duration word``) with Kaldi ``wav.scp``/``utt2spk`` maps."""

import os

from speechbrain_align.dataio.alignments.common import (
    AlignmentError,
    _ErrorPolicy,
    _collect,
    _Utterance,
    time_rounding,
)
from speechbrain_align.dataio.manifest import ManifestError
from speechbrain_align.dataio.textgrid import read_text_file

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
