"""Word-segment manifests for Speech Commands or any isolated-word corpus.

The corpus is one folder per word (``<data_folder>/<word>/<speaker>_nohash_<n>.wav``
or ``<data_folder>/<word>/<speaker>/<file>``, WAV/FLAC/OGG at any sample
rate, see :func:`~speechbrain_align.dataio.alignments.read_isolated_words`).
The words are the folders present, or a given list. Each clip becomes one
segment covering the whole file. Splits:

* with the full Speech Commands dataset (``validation_list.txt`` and
  ``testing_list.txt`` present), the official lists (matched on
  ``<word>/<file stem>``, so FLAC copies of the WAV files match too);
* otherwise (e.g. the v0.02 test folder alone), speaker-disjoint splits from
  a SHA-1 hash of the speaker id: deterministic, and a speaker never moves
  split when more data is added. Either the fixed split (``valid_fraction``,
  ``test_fraction``) or fold ``fold`` of ``n_folds`` speaker-disjoint folds
  (:func:`~speechbrain_align.dataio.prepare.split_speakers_by_fold`).

A split that ends up empty or with a single speaker raises ``ManifestError``.

Usage::

    python recipes/SpeechCommands/speech_commands_prepare.py \\
        ../shared/data/speech_commands_v0.02_test results/speech_commands [--fold 0 --n-folds 5]
"""

import argparse
import logging
import os
import sys

from speechbrain_align.dataio.alignments import read_isolated_words, split_speakers_by_hash
from speechbrain_align.dataio.manifest import ManifestError
from speechbrain_align.dataio.prepare import (
    SPLITS,
    check_split_speakers,
    prepare_split_manifests,
    split_speakers_by_fold,
)
from speechbrain_align.dataio.textgrid import read_text_file
from speechbrain_align.utils.errors import run_main

logger = logging.getLogger(__name__)

#: The 8 words of the Speech Commands v0.02 test folder (the default is every folder present).
SPEECH_COMMANDS_TEST_WORDS = ("down", "go", "left", "no", "right", "stop", "up", "yes")


def read_split_list(path):
    """Set of ``<word>/<stem>`` keys from an official split list."""
    keys = set()
    for line_no, line in enumerate(read_text_file(path).splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if "/" not in line:
            raise ManifestError(f"{path}:{line_no}: expected <word>/<file>, found {line!r}")
        word, name = line.rsplit("/", 1)
        keys.add(f"{word}/{os.path.splitext(name)[0]}")
    return keys


def _key(seg):
    word = os.path.basename(os.path.dirname(seg.wav))
    return f"{word}/{os.path.splitext(os.path.basename(seg.wav))[0]}"


def prepare_speech_commands(
    data_folder,
    save_folder,
    words=None,
    valid_fraction=0.1,
    test_fraction=0.1,
    use_official_lists=True,
    on_error="raise",
    skip_prep=False,
    n_folds=None,
    fold=None,
    min_speakers=2,
):
    """Write ``train.csv``/``valid.csv``/``test.csv`` of isolated-word segments.

    Arguments
    ---------
    data_folder : str
        Folder with one sub-folder per word.
    save_folder : str
    words : list of str or None
        Word folders to use; ``None`` = every folder (``_background_noise_``
        is always ignored).
    valid_fraction, test_fraction : float
        Expected shares of speakers in the hash split (``test_fraction`` is
        unused with folds).
    use_official_lists : bool
        Use ``validation_list.txt``/``testing_list.txt`` when both exist
        (not with folds).
    on_error : "raise" or "skip"
    skip_prep : bool
    n_folds, fold : int, optional
        Use fold ``fold`` (0-based) of ``n_folds`` speaker-disjoint folds as
        the test set instead of the fixed split.
    min_speakers : int
        Fewest speakers per split (else ``ManifestError``).

    Returns
    -------
    dict ``train``/``valid``/``test`` -> manifest path.
    """
    data_folder = os.path.abspath(data_folder)  # manifests hold absolute paths
    valid_list = os.path.join(data_folder, "validation_list.txt")
    test_list = os.path.join(data_folder, "testing_list.txt")
    folds = n_folds is not None
    if folds and fold is None:
        raise ValueError("n_folds given without fold")
    official = (
        not folds and use_official_lists and os.path.isfile(valid_list) and os.path.isfile(test_list)
    )
    options = {
        "data_folder": data_folder,
        "words": None if words is None else list(words),
        "valid_fraction": valid_fraction,
        "test_fraction": test_fraction,
        "official_lists": official,
        "on_error": on_error,
        "folds": [int(fold), int(n_folds)] if folds else None,
        "min_speakers": min_speakers,
    }

    def build():
        segs = read_isolated_words(data_folder, words=words, on_error=on_error)
        if official:
            valid_keys, test_keys = read_split_list(valid_list), read_split_list(test_list)
            split_of = {
                s.ID: "valid" if _key(s) in valid_keys else "test" if _key(s) in test_keys
                else "train"
                for s in segs
            }
        else:
            speakers = sorted({s.spk_id for s in segs})
            if folds:
                spk_split = split_speakers_by_fold(speakers, n_folds, fold, valid_fraction)
            else:
                spk_split = split_speakers_by_hash(speakers, valid_fraction, test_fraction)
            split_of = {s.ID: spk_split[s.spk_id] for s in segs}
        parts = {name: [s for s in segs if split_of[s.ID] == name] for name in SPLITS}
        check_split_speakers(parts, data_folder, min_speakers)
        return parts

    return prepare_split_manifests(save_folder, options, build, skip_prep=skip_prep)


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_folder")
    parser.add_argument("save_folder")
    parser.add_argument("--words", nargs="*", default=None,
                        help="word folders (default: every folder)")
    parser.add_argument("--valid-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--no-official-lists", action="store_true")
    parser.add_argument("--on-error", default="raise", choices=["raise", "skip"])
    parser.add_argument("--n-folds", type=int, default=None, help="speaker-disjoint folds")
    parser.add_argument("--fold", type=int, default=None, help="test fold (0-based)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    words = None if args.words in (None, [], ["all"]) else args.words
    try:
        outputs = prepare_speech_commands(
            args.data_folder, args.save_folder, words, args.valid_fraction,
            args.test_fraction, not args.no_official_lists, args.on_error,
            n_folds=args.n_folds, fold=args.fold,
        )
    except (ManifestError, ValueError) as err:
        parser.exit(1, f"error: {err}\n")
    for name, path in outputs.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    sys.exit(run_main(main))
