"""Montreal Forced Aligner TextGrids: the words tier of each file, with its audio and speaker."""

import os

from speechbrain_align.dataio.alignments.common import (
    AlignmentError,
    _find_audio,
    _find_files_or_fail,
    _natural_key,
    _read_files,
    _Utterance,
)
from speechbrain_align.dataio.textgrid import read_textgrid_tiers

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
