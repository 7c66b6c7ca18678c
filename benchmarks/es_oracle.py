"""Why the Spanish column is at the floor: supervised English -> Spanish maps per English space.

Usage::

    python benchmarks/es_oracle.py --experiment results/bible

For each English space of a finished experiment (the oracle T, skip-gram on
the 200k spoken tokens, and the two text spaces, WEB and King James, about
550k tokens each; ``<experiment>/alignment/inputs/``), the script learns
supervised Procrustes to the Reina-Valera 1909 space on half of the en-es
dictionary's English words (``<experiment>/dictionaries/en-es.txt``, the
pairs whose both words have vectors) and prints the CSLS P@1 on the other
half, among the ``--max_rank`` most frequent English words (a word counts as
translated when its top candidate is any of its dictionary translations).
The split is one seeded split of the English words shared by the three
spaces, so the three rows are scored on the same test words.
"""

import argparse
import os

import numpy as np

from speechbrain_align.alignment.mappings import evaluate_mapping
from speechbrain_align.alignment.normalization import normalize_embeddings
from speechbrain_align.alignment.procrustes import procrustes_on_pairs
from speechbrain_align.dataio.dictionaries.muse import read_muse_dictionary
from speechbrain_align.dataio.vectors import load_embeddings

STEPS = ("unit", "center", "unit")
SPACES = (("T (200k spoken tokens)", "speech_T.npz"), ("WEB text", "text_same.npz"),
          ("King James text", "text_cross.npz"))


def _pairs(words, src, tgt, dictionary):
    """Index pairs (source row, target row) of ``words``' translations in ``tgt``."""
    return np.array([(src.index[w], tgt.index[t]) for w in words for t in dictionary[w]
                     if t in tgt.index], dtype=np.int64).reshape(-1, 2)


def main(argv=None):
    """Parse the arguments, fit and score one supervised map per English space.

    Returns ``{space name: CSLS P@1}``.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", default="results/bible")
    parser.add_argument("--max_rank", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    inputs = os.path.join(args.experiment, "alignment", "inputs")
    es = load_embeddings(os.path.join(inputs, "text_es.npz")).sorted_by_count()
    spaces = [(name, load_embeddings(os.path.join(inputs, f)).sorted_by_count())
              for name, f in SPACES]
    dictionary = {}
    for src_word, tgt_word in read_muse_dictionary(
            os.path.join(args.experiment, "dictionaries", "en-es.txt"), on_error="skip"):
        if tgt_word in es.index:
            dictionary.setdefault(src_word, []).append(tgt_word)
    shared = sorted(set(dictionary).intersection(*(set(s.words) for _, s in spaces)))
    rng = np.random.default_rng(args.seed)
    shuffled = [shared[i] for i in rng.permutation(len(shared))]
    train, test = shuffled[: len(shuffled) // 2], shuffled[len(shuffled) // 2:]
    print(f"{len(shared)} English words with a translation in the Spanish space, in all "
          f"three English spaces; train {len(train)}, test {len(test)} (before the rank cut)")
    y = normalize_embeddings(es.vectors, STEPS)
    scores = {}
    for name, space in spaces:
        x = normalize_embeddings(space.vectors, STEPS)
        w = procrustes_on_pairs(x, y, _pairs(train, space, es, dictionary))
        frequent = [t for t in test if space.index[t] < args.max_rank]
        p_at_1 = evaluate_mapping(space.vectors, es.vectors, w,
                                  _pairs(frequent, space, es, dictionary), STEPS,
                                  methods=("csls",))["csls_p@1"]
        print(f"{name:>24}: {len(space)} types, CSLS P@1 {100 * p_at_1:.1f}% on "
              f"{len(frequent)} test words among its {args.max_rank} most frequent")
        scores[name] = p_at_1
    return scores


if __name__ == "__main__":
    main()
