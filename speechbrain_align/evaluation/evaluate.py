"""Command line evaluation of two vector files (text-to-text, like MUSE's own).

Example (shell)::

    python -m speechbrain_align.evaluation.evaluate --src wiki.en.vec --tgt wiki.es.vec \\
        --dico en-es.5000-6500.txt --mapping W.npy --out results.json

writes ``results.json`` (``{config: {condition: metrics}}``, see
:mod:`speechbrain_align.evaluation.tasks`) and ``results.md`` (Markdown
tables, :mod:`speechbrain_align.evaluation.tables`), and prints the table.
``--task synonyms`` reads ``word<TAB>syn1<TAB>syn2..`` sets (or a MUSE
pair file) and ranks ``--tgt`` words for each ``--src`` word, excluding the
word itself; ``--task classification`` reads ``query_key<TAB>gold_word``
items, one per line (repeats kept: one item per test segment).

Both spaces go through the same ``--normalize`` steps (default
``unit center unit``, as :mod:`speechbrain_align.alignment.pipeline`
trains its ``W``) before ``W`` is applied as ``x W^T``; pass
``--normalize unit`` for a ``W`` trained on plainly unit-normalised vectors.
"""

import argparse
import logging
import os
import sys

from speechbrain_align.alignment.normalization import normalize_embeddings
from speechbrain_align.alignment.mappings import AlignmentError, load_mapping
from speechbrain_align.dataio.dictionaries import (
    DictionaryError,
    group_by_source,
    read_muse_dictionary,
    read_synonyms,
)
from speechbrain_align.dataio.vectors import Embeddings, VectorFileError, load_embeddings
from speechbrain_align.evaluation.tables import (
    format_console,
    load_results,
    merge_results,
    write_results,
)
from speechbrain_align.evaluation.tasks import (
    evaluate_synonyms,
    evaluate_translation,
    evaluate_word_classification,
)
from speechbrain_align.utils.errors import UserError

logger = logging.getLogger(__name__)


class EvaluationError(UserError, ValueError):
    """Unusable evaluation input; the message names the file (and line)."""


def load_mapping_matrix(path, src_dim, tgt_dim):
    """Load ``W`` (``.npy``, shape (tgt_dim, src_dim)); errors name the file."""
    path = os.fspath(path)
    try:
        w = load_mapping(path)
    except AlignmentError as err:
        raise EvaluationError(str(err)) from err
    if w.shape != (tgt_dim, src_dim):
        raise EvaluationError(
            f"{path}: mapping of shape {w.shape}, expected ({tgt_dim}, {src_dim}) "
            "(target dim, source dim), applied as x @ W.T"
        )
    return w


def read_items(path):
    """Read ``query_key<TAB>gold_word`` lines (whitespace also accepted), repeats kept.

    Example
    -------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "items.tsv")
    >>> _ = open(p, "w").write("7\\tyes\\n7\\tyes\\n\\n3 no\\n")
    >>> read_items(p)
    [('7', 'yes'), ('7', 'yes'), ('3', 'no')]
    """
    try:
        return read_muse_dictionary(path, lowercase=False, unique=False)
    except DictionaryError as err:
        raise EvaluationError(f"{err} (items are 'query_key<TAB>gold_word' lines)") from err


def _read_gold(task, path, lowercase):
    if task == "translation":
        return read_muse_dictionary(path, lowercase=lowercase)
    if task == "synonyms":
        try:
            with open(path, encoding="utf-8") as handle:
                first = next((line for line in handle if line.strip()), "")
        except (OSError, UnicodeDecodeError) as err:
            raise EvaluationError(f"{path}: cannot read ({err})") from err
        if "\t" in first:  # word<TAB>syn1<TAB>syn2... (or word<TAB>syn pairs)
            return read_synonyms(path)
        pairs = read_muse_dictionary(path, lowercase=lowercase)
        return {word: set(syns) for word, syns in group_by_source(pairs).items()}
    return read_items(path)


TASKS = {
    "translation": evaluate_translation,
    "synonyms": evaluate_synonyms,
    "classification": evaluate_word_classification,
}


def run(args):
    """Evaluate as described by parsed ``args``; returns (all results, this run's metrics)."""
    src = load_embeddings(args.src, max_vocab=args.max_vocab)
    tgt = load_embeddings(args.tgt, max_vocab=args.max_vocab)
    logger.info("%s: %d x %d; %s: %d x %d", args.src, len(src), src.dim, args.tgt, len(tgt),
                tgt.dim)
    src = Embeddings(src.words, normalize_embeddings(src.vectors, args.normalize), src.counts)
    tgt = Embeddings(tgt.words, normalize_embeddings(tgt.vectors, args.normalize), tgt.counts)
    mapping = None
    if args.mapping:
        mapping = load_mapping_matrix(args.mapping, src.dim, tgt.dim)
    elif src.dim != tgt.dim:
        raise EvaluationError(
            f"{args.src} has dim {src.dim}, {args.tgt} dim {tgt.dim}: give --mapping"
        )
    gold = _read_gold(args.task, args.dico, not args.keep_case)
    metrics = TASKS[args.task](
        src, tgt, gold, mapping=mapping, ks=tuple(args.ks), csls_k=args.csls_k,
        methods=tuple(args.methods), return_predictions=args.predictions, use_gpu=args.use_gpu,
    )
    metrics.update(
        src=os.fspath(args.src), tgt=os.fspath(args.tgt), dico=os.fspath(args.dico),
        mapping=None if not args.mapping else os.fspath(args.mapping),
        normalize=list(args.normalize), max_vocab=args.max_vocab,
    )
    config = args.config or (
        os.path.splitext(os.path.basename(args.mapping))[0] if args.mapping else "identity"
    )
    condition = args.condition or f"{args.task}:{os.path.basename(args.dico)}"
    results = {config: {condition: metrics}}
    if args.append:
        results = merge_results(load_results(args.out), results)
    md = args.md or os.path.splitext(args.out)[0] + ".md"
    write_results(results, args.out, md, methods=tuple(args.methods), ks=tuple(args.ks[:2]))
    return results, metrics


def build_parser():
    """The argument parser of the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_align.evaluation.evaluate",
        description="P@1/P@5 (NN and CSLS) of source vectors (optionally mapped) "
        "against target vectors on a dictionary, synonym sets or classification items.",
    )
    parser.add_argument("--src", required=True, help="source vectors (.vec or .npz)")
    parser.add_argument("--tgt", required=True, help="target vectors (.vec or .npz)")
    parser.add_argument("--dico", required=True,
                        help="gold file: MUSE pairs, synonym sets, or key<TAB>gold items")
    parser.add_argument("--mapping", help="W.npy of shape (tgt dim, src dim), y = x W^T")
    parser.add_argument("--out", required=True, help="results JSON")
    parser.add_argument("--md", help="Markdown table (default: --out with .md)")
    parser.add_argument("--task", choices=sorted(TASKS), default="translation")
    parser.add_argument("--max-vocab", type=int, default=200000,
                        help="read at most this many words per file (default 200000)")
    parser.add_argument("--normalize", nargs="+", default=["unit", "center", "unit"],
                        help="steps applied to both spaces (default: unit center unit)")
    parser.add_argument("--csls-k", type=int, default=10)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--methods", nargs="+", choices=["nn", "csls"], default=["nn", "csls"])
    parser.add_argument("--config", help="row name in the table (default: mapping file stem)")
    parser.add_argument("--condition", help="column name (default: task:dico file)")
    parser.add_argument("--append", action="store_true",
                        help="merge into an existing --out instead of replacing it")
    parser.add_argument("--predictions", action="store_true",
                        help="store per-item top words in the JSON")
    parser.add_argument("--keep-case", action="store_true",
                        help="do not lower-case dictionary words")
    parser.add_argument("--use-gpu", action="store_true")
    return parser


def main(argv=None):
    """Entry point; returns the exit status (1 with a one-line error on bad input)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        results, metrics = run(args)
    except (EvaluationError, DictionaryError, VectorFileError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_console(results, methods=tuple(args.methods), ks=tuple(args.ks[:2])))
    print(f"{metrics['n_scored']} of {metrics['n_items']} items scored; skipped "
          f"{metrics['skipped_no_query']} without a source vector and "
          f"{metrics['skipped_no_gold']} without a gold word in the target vocabulary")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    from speechbrain_align.utils.errors import run_main

    sys.exit(run_main(main))
