"""Command line of :mod:`speechbrain_align.speech.diagnostics`.

::

    python -m speechbrain_align.speech.diagnostics --vectors X.vec \\
        --manifest train.csv [--assignment a.csv] [--text-vectors T.vec] \\
        --out diag.json [--random-baseline] [--text-row]
"""

import argparse
import logging
import sys

from speechbrain_align.speech.diagnostics import markdown_table, run_diagnostics


def main(argv=None):
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_align.speech.diagnostics",
        description="What word-type or unit vectors know: semantic vs phonetic neighbours, "
        "word similarity, cluster purity.",
    )
    parser.add_argument("--vectors", required=True, help=".vec/.npz of word types or units")
    parser.add_argument("--manifest", required=True, help="segment manifest CSV (word labels)")
    parser.add_argument("--assignment", help="ID,unit CSV: the vectors are units")
    parser.add_argument("--text-vectors", help="semantic reference; trained from the manifest if absent")
    parser.add_argument("--out", required=True, help="output JSON (a .md table is written next to it)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--min-count", type=int, default=1,
                        help="word types with fewer segments are left out of the overlaps")
    parser.add_argument("--min-pairs", type=int, default=10,
                        help="report Spearman only with at least this many pairs covered")
    parser.add_argument("--random-baseline", action="store_true")
    parser.add_argument("--text-row", action="store_true")
    parser.add_argument("--name", default=None, help="row name (default: vector file name)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--text-dim", type=int, default=50)
    parser.add_argument("--text-window", type=int, default=5)
    parser.add_argument("--text-epochs", type=int, default=20)
    parser.add_argument("--text-min-count", type=int, default=1)
    parser.add_argument("--save-text-vectors", help="write the text vectors trained here")
    parser.add_argument(
        "--similarity", action="append", default=None, metavar="NAME=PATH",
        help="word-similarity file(s) instead of WordSim-353/SimLex-999 from gensim",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    similarity_files = None
    if args.similarity:
        similarity_files = {}
        for item in args.similarity:
            if "=" not in item:
                parser.error(f"--similarity {item!r}: expected NAME=PATH")
            key, path = item.split("=", 1)
            similarity_files[key] = path
    report = run_diagnostics(
        args.vectors, args.manifest, args.out, assignment=args.assignment,
        text_vectors=args.text_vectors, save_text_vectors=args.save_text_vectors,
        name=args.name, seed=args.seed,
        text_options={"dim": args.text_dim, "window": args.text_window,
                      "epochs": args.text_epochs, "min_count": args.text_min_count},
        k=args.k, min_count=args.min_count, similarity_files=similarity_files,
        random_baseline=args.random_baseline, text_row=args.text_row, min_pairs=args.min_pairs,
    )
    sys.stdout.write(markdown_table(report))
    return report
