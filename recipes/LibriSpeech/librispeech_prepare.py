"""Word-segment manifests for LibriSpeech from forced alignments.

LibriSpeech itself has no word boundaries; they come from either of two
widely used forced-alignment releases, laid out like the corpus:

* alignment text files ``<split>/<spk>/<chapter>/<spk>-<chapter>.alignment.txt``
  (one line per utterance, words and end times; they may be unpacked into the
  LibriSpeech tree itself, next to the ``.trans.txt`` files);
* Montreal Forced Aligner TextGrids ``<split>/.../<utt_id>.TextGrid``.

Writes ``train.csv``, ``valid.csv`` and ``test.csv`` (one row per word
token, see :mod:`speechbrain_align.dataio.manifest`) in ``save_folder``; each
is the concatenation of its splits, utterances ordered by speaker, chapter
and utterance number so that a chapter's utterances are contiguous.

Usage::

    python recipes/LibriSpeech/librispeech_prepare.py /data/LibriSpeech results/libri \\
        --alignments /data/LibriSpeech-Alignments/LibriSpeech \\
        --train train-clean-100 --valid dev-clean --test test-clean
"""

import argparse
import logging
import os
import sys

from speechbrain_align.dataio.alignments import (
    AlignmentError,
    find_files,
    librispeech_wav,
    read_librispeech_alignments,
    read_textgrids,
)
from speechbrain_align.dataio.prepare import prepare_split_manifests
from speechbrain_align.utils.errors import run_main

logger = logging.getLogger(__name__)


def detect_alignment_format(folder):
    """``"txt"`` if ``folder`` holds ``*.alignment.txt`` files, else ``"textgrid"``.

    Raises :class:`AlignmentError` when it holds neither.
    """
    for _, _, names in os.walk(folder):
        for name in names:
            if name.endswith(".alignment.txt"):
                return "txt"
            if name.lower().endswith(".textgrid"):
                return "textgrid"
    raise AlignmentError(f"{folder}: no *.alignment.txt or *.TextGrid files found")


def read_split(
    data_folder, split, alignments_folder=None, alignment_format="auto",
    on_error="raise", check_audio=True,
):
    """Segments of one LibriSpeech split (e.g. ``dev-clean``).

    Audio is ``<data_folder>/<split>/<spk>/<chapter>/<utt_id>.flac``; the
    alignments are under ``<alignments_folder>/<split>`` (by default, inside
    the corpus tree).
    """
    audio_root = os.path.join(data_folder, split)
    align_root = os.path.join(alignments_folder or data_folder, split)
    if not os.path.isdir(align_root):
        raise AlignmentError(f"{align_root}: alignment folder for split {split!r} not found")
    fmt = detect_alignment_format(align_root) if alignment_format == "auto" else alignment_format
    if fmt == "txt":
        segs = read_librispeech_alignments(
            align_root, audio_root=audio_root, on_error=on_error, check_audio=check_audio
        )
    elif fmt == "textgrid":
        segs = read_textgrids(
            align_root,
            wav_for=lambda utt, path: librispeech_wav(audio_root, utt),
            spk_for=lambda utt, path: utt.split("-")[0],
            on_error=on_error,
            check_audio=check_audio,
        )
    else:
        raise ValueError(f"alignment_format must be auto, txt or textgrid, not {fmt!r}")
    if os.path.isdir(audio_root):
        aligned = {s.utt_id for s in segs}
        audio = find_files(audio_root, [".flac"])
        missing = [p for p in audio if os.path.basename(p)[:-5] not in aligned]
        if missing:
            logger.info(
                "%s: %d of %d utterances have no alignment (or no kept word)",
                split, len(missing), len(audio),
            )
    logger.info("%s: %d word segments from %d utterances", split, len(segs),
                len({s.utt_id for s in segs}))
    return segs


def prepare_librispeech(
    data_folder,
    save_folder,
    alignments_folder=None,
    tr_splits=("train-clean-100",),
    dev_splits=("dev-clean",),
    te_splits=("test-clean",),
    alignment_format="auto",
    on_error="raise",
    check_audio=True,
    skip_prep=False,
):
    """Write ``train.csv``/``valid.csv``/``test.csv`` word-segment manifests.

    Arguments
    ---------
    data_folder : str
        The ``LibriSpeech`` folder holding the split folders.
    save_folder : str
        Where the manifests go.
    alignments_folder : str, optional
        Folder holding ``<split>/...`` alignments (text files or TextGrids);
        by default ``data_folder``.
    tr_splits, dev_splits, te_splits : list of str
        Splits concatenated into train, valid and test (an empty list writes
        no file).
    alignment_format : "auto", "txt" or "textgrid"
    on_error : "raise" or "skip"
        Skip bad utterances with a counted warning instead of stopping.
    check_audio : bool
        Check every audio file exists and covers its words.
    skip_prep : bool
        Do nothing.

    Returns
    -------
    dict mapping ``train``/``valid``/``test`` to the manifest path written.
    """
    groups = {"train": list(tr_splits), "valid": list(dev_splits), "test": list(te_splits)}
    data_folder = os.path.abspath(data_folder)  # manifests hold absolute paths
    if alignments_folder:
        alignments_folder = os.path.abspath(alignments_folder)
    options = {
        "data_folder": data_folder,
        "alignments_folder": alignments_folder or None,
        "splits": groups,
        "alignment_format": alignment_format,
        "on_error": on_error,
        "check_audio": check_audio,
    }
    names = [name for name, splits in groups.items() if splits]

    def build():
        return {
            name: [
                seg
                for split in groups[name]
                for seg in read_split(data_folder, split, alignments_folder, alignment_format,
                                      on_error, check_audio)
            ]
            for name in names
        }

    return prepare_split_manifests(save_folder, options, build, names, skip_prep)


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_folder", help="the LibriSpeech folder (holds dev-clean/...)")
    parser.add_argument("save_folder")
    parser.add_argument("--alignments", default=None, help="folder with <split>/... alignments")
    parser.add_argument("--train", nargs="*", default=["train-clean-100"])
    parser.add_argument("--valid", nargs="*", default=["dev-clean"])
    parser.add_argument("--test", nargs="*", default=["test-clean"])
    parser.add_argument("--format", default="auto", choices=["auto", "txt", "textgrid"])
    parser.add_argument("--on-error", default="raise", choices=["raise", "skip"])
    parser.add_argument("--no-audio-check", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    outputs = prepare_librispeech(
        args.data_folder, args.save_folder, args.alignments, args.train, args.valid,
        args.test, args.format, args.on_error, not args.no_audio_check,
    )
    for name, path in outputs.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    sys.exit(run_main(main))
