"""Word-segment manifests for TIMIT from its hand-verified ``.wrd`` files.

Handles the full corpus (``TRAIN``/``TEST``/``DR*``/``<SPK>``/``*.WRD``, upper
or lower case, audio ``.WAV`` in NIST SPHERE or ``.wav``/``.WAV.wav``) and the
public TIMIT sample (``dr1-fvmh0/sa1.wrd``, no train/test division).

Splits are speaker-disjoint: with the full corpus, ``test.csv`` is the TEST
folder and ``valid.csv`` a seeded choice of TRAIN speakers (balanced over
sex, which is the first letter of a TIMIT speaker code); with the sample, both
``test`` and ``valid`` speakers are drawn that way from the 16 speakers.

Usage::

    python recipes/TIMIT/timit_prepare.py ../shared/data/timit_sample results/timit
"""

import argparse
import logging
import os
import random
import sys

from speechbrain_align.dataio.alignments import read_timit
from speechbrain_align.dataio.prepare import prepare_split_manifests
from speechbrain_align.utils.errors import run_main

logger = logging.getLogger(__name__)


def find_subfolder(folder, name):
    """The child of ``folder`` named ``name`` in any letter case, or None."""
    for child in sorted(os.listdir(folder)):
        if child.lower() == name.lower() and os.path.isdir(os.path.join(folder, child)):
            return os.path.join(folder, child)
    return None


def pick_speakers(speakers, count, seed):
    """Choose ``count`` speakers, seeded, alternating sexes (``f...``/``m...``)."""
    rng = random.Random(seed)
    by_sex = {}
    for spk in sorted(set(speakers)):
        by_sex.setdefault(spk[:1], []).append(spk)
    queues = []
    for sex in sorted(by_sex):
        group = by_sex[sex]
        rng.shuffle(group)
        queues.append(group)
    order = []
    while any(queues):
        for queue in queues:
            if queue:
                order.append(queue.pop(0))
    return order[:count]


def _count(fraction, total):
    """Speakers for a held-out share: at least 2 (one per sex) when there are 8+."""
    if fraction <= 0:
        return 0
    return max(2 if total >= 8 else 1, int(round(fraction * total)))


def prepare_timit(
    data_folder,
    save_folder,
    valid_fraction=0.1,
    test_fraction=0.2,
    seed=1234,
    drop_sa=False,
    on_error="raise",
    check_audio=True,
    skip_prep=False,
):
    """Write speaker-disjoint ``train.csv``/``valid.csv``/``test.csv`` for TIMIT.

    Arguments
    ---------
    data_folder : str
        TIMIT root (holding ``TRAIN``/``TEST``) or the TIMIT sample folder.
    save_folder : str
    valid_fraction : float
        Share of the training speakers held out for validation.
    test_fraction : float
        Share of speakers for test, used only without a ``TEST`` folder.
    seed : int
        Seed of the speaker choice.
    drop_sa : bool
        Drop the dialect sentences sa1/sa2 that every speaker reads.
    on_error : "raise" or "skip"
    check_audio : bool
    skip_prep : bool

    Returns
    -------
    dict ``train``/``valid``/``test`` -> manifest path.
    """
    data_folder = os.path.abspath(data_folder)  # manifests hold absolute paths
    options = {
        "data_folder": data_folder,
        "valid_fraction": valid_fraction,
        "test_fraction": test_fraction,
        "seed": seed,
        "drop_sa": drop_sa,
        "on_error": on_error,
        "check_audio": check_audio,
    }

    def build():
        train_dir = find_subfolder(data_folder, "train")
        test_dir = find_subfolder(data_folder, "test")
        kwargs = {"on_error": on_error, "check_audio": check_audio, "drop_sa": drop_sa}
        if train_dir and test_dir:
            train = read_timit(train_dir, **kwargs)
            test = read_timit(test_dir, **kwargs)
        else:
            train = read_timit(data_folder, **kwargs)
            speakers = sorted({s.spk_id for s in train})
            test_spk = set(pick_speakers(speakers, _count(test_fraction, len(speakers)), seed))
            test = [s for s in train if s.spk_id in test_spk]
            train = [s for s in train if s.spk_id not in test_spk]
        speakers = sorted({s.spk_id for s in train})
        valid_spk = set(pick_speakers(speakers, _count(valid_fraction, len(speakers)), seed + 1))
        return {
            "train": [s for s in train if s.spk_id not in valid_spk],
            "valid": [s for s in train if s.spk_id in valid_spk],
            "test": test,
        }

    return prepare_split_manifests(save_folder, options, build, skip_prep=skip_prep)


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_folder")
    parser.add_argument("save_folder")
    parser.add_argument("--valid-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--drop-sa", action="store_true")
    parser.add_argument("--on-error", default="raise", choices=["raise", "skip"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    outputs = prepare_timit(
        args.data_folder, args.save_folder, args.valid_fraction, args.test_fraction,
        args.seed, args.drop_sa, args.on_error,
    )
    for name, path in outputs.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    sys.exit(run_main(main))
