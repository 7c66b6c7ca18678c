"""Command line of the dictionary tools (``python -m speechbrain_align.dataio.dictionaries``)."""

import argparse
import logging
import sys

from speechbrain_align.dataio.dictionaries.freedict import FREEDICT_DIR, freedict_to_muse
from speechbrain_align.dataio.dictionaries.muse import (
    DictionaryError,
    group_by_source,
    read_muse_dictionary,
    split_dictionary,
    write_muse_dictionary,
)
from speechbrain_align.dataio.dictionaries.synonyms import pivot_synonyms, write_synonyms


def main(argv=None):
    """Command line: ``freedict``, ``synonyms`` and ``split`` sub-commands.

    Examples (shell)::

        python -m speechbrain_align.dataio.dictionaries freedict eng-spa en-es.freedict.txt
        python -m speechbrain_align.dataio.dictionaries synonyms en-es.txt en_syn.tsv \\
            --backward es-en.txt --max-sets 2000
        python -m speechbrain_align.dataio.dictionaries split en-es.txt train.txt test.txt \\
            --test-size 1500 --seed 1234
    """
    parser = argparse.ArgumentParser(description="Bilingual dictionaries: FreeDict conversion, pivot synonyms, splits")
    sub = parser.add_subparsers(dest="command", required=True)
    fd = sub.add_parser("freedict", help="convert an installed FreeDict dictionary")
    fd.add_argument("pair", help="e.g. eng-spa")
    fd.add_argument("output")
    fd.add_argument("--folder", default=FREEDICT_DIR)
    fd.add_argument("--keep-multiword", action="store_true")
    fd.add_argument("--keep-truncated", action="store_true",
                    help="keep entries whose headword looks cut from a phrase")
    sy = sub.add_parser("synonyms", help="synonym sets through a pivot language")
    sy.add_argument("forward", help="MUSE dictionary source -> pivot")
    sy.add_argument("output")
    sy.add_argument("--backward", help="MUSE dictionary pivot -> source")
    sy.add_argument("--vocab", help="word<TAB>count file restricting the words")
    sy.add_argument("--max-sets", type=int)
    sp = sub.add_parser("split", help="train/test split with disjoint source words")
    sp.add_argument("dictionary")
    sp.add_argument("train")
    sp.add_argument("test")
    sp.add_argument("--test-size", type=float, default=0.2,
                    help="fraction (<1) or number of source words")
    sp.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        if args.command == "freedict":
            pairs = freedict_to_muse(args.output, args.pair, args.folder, args.keep_multiword,
                                     not args.keep_truncated)
            print(f"{args.output}: {len(pairs)} pairs, "
                  f"{len(group_by_source(pairs))} source words")
        elif args.command == "synonyms":
            vocab = None
            if args.vocab:
                from speechbrain_align.dataio.text import read_vocabulary

                vocab = read_vocabulary(args.vocab)
            backward = read_muse_dictionary(args.backward) if args.backward else None
            syn = pivot_synonyms(read_muse_dictionary(args.forward), backward, vocab,
                                 args.max_sets)
            write_synonyms(syn, args.output)
            print(f"{args.output}: {len(syn)} synonym sets")
        else:
            size = args.test_size
            size = int(size) if size >= 1 else size
            train, test = split_dictionary(read_muse_dictionary(args.dictionary), size, args.seed)
            write_muse_dictionary(train, args.train)
            write_muse_dictionary(test, args.test)
            print(f"{args.train}: {len(train)} pairs; {args.test}: {len(test)} pairs")
    except DictionaryError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
