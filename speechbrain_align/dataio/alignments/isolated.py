"""Isolated-word folders in the Speech Commands layout (``<word>/<speaker>_nohash_<n>.wav``)."""

import os

from speechbrain_align.dataio.alignments.common import (
    AlignmentError,
    _ErrorPolicy,
    _natural_key,
    normalize_word,
)
from speechbrain_align.dataio.audio import AudioError, audio_info, check_segments_audio
from speechbrain_align.dataio.manifest import Segment

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
