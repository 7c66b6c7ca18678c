"""Text corpora: Bible verses or user text files -> tokenised corpora, vocabularies.

The text side of the alignment needs a plain, tokenised corpus (one line per
verse or sentence, tokens separated by one space) from which skip-gram
vectors are trained. Bibles come from installed SWORD modules
(:mod:`speechbrain_align.dataio.sword`); sub-word pieces of a corpus from
:mod:`speechbrain_align.dataio.subwords`.

Tokenisation is always :func:`speechbrain_align.dataio.tokenize.tokenize`,
the same function used on speech transcripts, so word types match across
modalities.
"""

import collections
import logging
import os

from speechbrain_align.dataio.sword import PROTESTANT_CANON, SwordError, read_sword_verses
from speechbrain_align.dataio.tokenize import tokenize
from speechbrain_align.utils.errors import UserError
from speechbrain_align.utils.files import atomic_write

logger = logging.getLogger(__name__)


class TextCorpusError(UserError, ValueError):
    """A text input is unusable; the message names the file (and line)."""


def _line_text(item):
    return item[-1] if isinstance(item, (tuple, list)) else item


def write_text_corpus(lines, path):
    """Tokenise each line and write one tokenised line per input line, atomically.

    Arguments
    ---------
    lines : iterable of str, or of ``(ref, text)`` pairs
        Raw text lines (e.g. the output of :func:`read_sword_verses`).
    path : str
        Output corpus: tokens separated by single spaces, one line per input
        line; lines with no token are skipped.

    Returns
    -------
    dict
        ``lines`` (written), ``skipped_empty``, ``tokens``, ``types``.

    Example
    -------
    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "c.txt")
    >>> write_text_corpus([("Gen.1.1", "In the Beginning!"), "", "the end"], out)
    {'lines': 2, 'skipped_empty': 1, 'tokens': 5, 'types': 4}
    >>> open(out).read()
    'in the beginning\\nthe end\\n'
    """
    counts = collections.Counter()
    written = skipped = 0
    with atomic_write(path) as handle:
        for item in lines:
            tokens = tokenize(_line_text(item))
            if not tokens:
                skipped += 1
                continue
            counts.update(tokens)
            handle.write(" ".join(tokens) + "\n")
            written += 1
    return {
        "lines": written,
        "skipped_empty": skipped,
        "tokens": sum(counts.values()),
        "types": len(counts),
    }


def read_text_file(path):
    """Lines of a user UTF-8 text file (newlines removed, a leading BOM dropped).

    Raises
    ------
    TextCorpusError
        If the file cannot be opened, a line is not valid UTF-8 (the message
        names the file and line), or the file holds no text at all.

    Example
    -------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "t.txt")
    >>> _ = open(p, "wb").write("\\ufeffHello\\r\\nWorld\\n".encode("utf-8"))
    >>> read_text_file(p)
    ['Hello', 'World']
    """
    path = os.fspath(path)
    lines = []
    try:
        handle = open(path, "rb")
    except OSError as err:
        raise TextCorpusError(f"{path}: cannot open ({err})") from err
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise TextCorpusError(
                    f"{path}:{line_no}: not valid UTF-8 (byte {err.start}: {err.reason}); "
                    "convert the file to UTF-8, e.g. with iconv"
                ) from err
            if line_no == 1:
                line = line.lstrip("\ufeff")
            lines.append(line.rstrip("\r\n"))
    if not any(line.strip() for line in lines):
        raise TextCorpusError(f"{path}: file is empty (no text on any line)")
    return lines


def vocabulary_counts(corpus_path):
    """Counts of the space-separated tokens of a tokenised corpus.

    Example
    -------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "c.txt")
    >>> _ = open(p, "w").write("a b a\\nc a\\n")
    >>> sorted(vocabulary_counts(p).items())
    [('a', 3), ('b', 1), ('c', 1)]
    """
    counts = collections.Counter()
    for line in read_text_file(corpus_path):
        counts.update(line.split())
    return counts


def write_vocabulary(counter, path):
    """Write ``word<TAB>count`` lines sorted by count (descending) then word, atomically.

    Example
    -------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "vocab.tsv")
    >>> write_vocabulary({"b": 2, "a": 2, "c": 5}, p)
    >>> open(p).read()
    'c\\t5\\na\\t2\\nb\\t2\\n'
    """
    with atomic_write(path) as handle:
        for word, count in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
            if not word or any(c.isspace() for c in word):
                raise TextCorpusError(f"{path}: word {word!r} is empty or has whitespace")
            handle.write(f"{word}\t{int(count)}\n")


def read_vocabulary(path):
    """Read a file written by :func:`write_vocabulary` into a Counter.

    Errors name the file and line.
    """
    counts = collections.Counter()
    for line_no, line in enumerate(read_text_file(path), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[1].isdigit():
            raise TextCorpusError(f"{path}:{line_no}: expected 'word<TAB>count', got {line[:60]!r}")
        counts[parts[0]] = int(parts[1])
    return counts


def prepare_text_corpus(corpus_path, sword_module=None, text_file=None, books=None,
                        sword_path=None):
    """Make a tokenised corpus from a SWORD module or a UTF-8 text file, once.

    Exactly one of ``sword_module`` / ``text_file`` is used (``text_file``
    wins if both are given). A rerun with the same options and an existing
    corpus does nothing (SpeechBrain's skip pattern); different options redo
    it. ``books`` may be ``"protestant"`` (:data:`PROTESTANT_CANON`) or a
    list of OSIS ids.

    Returns
    -------
    dict
        The statistics of :func:`write_text_corpus`, or ``{"skipped": True}``.
    """
    from speechbrain_align.utils.files import already_prepared, mark_prepared

    if books == "protestant":
        books = PROTESTANT_CANON
    options = {
        "sword_module": None if text_file else sword_module,
        "text_file": None if text_file is None else os.path.abspath(os.fspath(text_file)),
        "books": None if books is None else list(books),
    }
    if already_prepared([corpus_path], options):
        logger.info("%s already prepared, skipping", corpus_path)
        return {"skipped": True}
    if text_file:
        lines = read_text_file(text_file)
    elif sword_module:
        lines = read_sword_verses(sword_module, sword_path=sword_path, books=books)
    else:
        raise TextCorpusError(
            f"{corpus_path}: corpus absent and neither sword_module nor text_file given"
        )
    stats = write_text_corpus(lines, corpus_path)
    if stats["lines"] == 0:
        raise TextCorpusError(f"{text_file or sword_module}: no token in the text")
    mark_prepared([corpus_path], options)
    logger.info("%s: %s", corpus_path, stats)
    return stats


def main(argv=None):
    """Command line: make tokenised corpora and vocabularies.

    Examples (shell)::

        python -m speechbrain_align.dataio.text sword engWEB2015eb web.txt [--books protestant]
        python -m speechbrain_align.dataio.text file my_text.txt my_corpus.txt
        python -m speechbrain_align.dataio.text vocab web.txt web.vocab.tsv
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Make tokenised text corpora")
    sub = parser.add_subparsers(dest="command", required=True)
    sw = sub.add_parser("sword", help="verses of an installed SWORD module")
    sw.add_argument("module")
    sw.add_argument("output")
    sw.add_argument("--books", default=None, help="'protestant' or comma-separated OSIS ids")
    sw.add_argument("--refs", default=None, help="also write 'ref<TAB>raw text' lines here")
    fi = sub.add_parser("file", help="any UTF-8 text file")
    fi.add_argument("input")
    fi.add_argument("output")
    vo = sub.add_parser("vocab", help="word<TAB>count of a tokenised corpus")
    vo.add_argument("corpus")
    vo.add_argument("output")
    args = parser.parse_args(argv)
    try:
        if args.command == "sword":
            books = args.books
            if books == "protestant":
                books = PROTESTANT_CANON
            elif books:
                books = books.split(",")
            verses = read_sword_verses(args.module, books=books)
            if args.refs:
                with atomic_write(args.refs) as handle:
                    for ref, text in verses:
                        handle.write(f"{ref}\t{text}\n")
            stats = write_text_corpus(verses, args.output)
        elif args.command == "file":
            stats = write_text_corpus(read_text_file(args.input), args.output)
        else:
            counts = vocabulary_counts(args.corpus)
            write_vocabulary(counts, args.output)
            stats = {"types": len(counts), "tokens": sum(counts.values())}
    except (TextCorpusError, SwordError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.output}: {stats}")
    return 0


if __name__ == "__main__":
    import sys

    from speechbrain_align.utils.errors import run_main

    sys.exit(run_main(main))
