"""MUSE dictionary files (``source<TAB>target`` pairs) and dictionaries in memory: grouping, filtering, splits."""

import logging
import os

import numpy as np

from speechbrain_align.dataio.tokenize import normalize_text
from speechbrain_align.utils.errors import UserError
from speechbrain_align.utils.files import atomic_write

logger = logging.getLogger(__name__)


class DictionaryError(UserError, ValueError):
    """A dictionary file or dictionary is unusable; the message names the file (and line)."""


def read_muse_dictionary(path, lowercase=True, on_error="raise", unique=True):
    """Read a MUSE dictionary into a list of ``(source, target)`` pairs.

    Each non-blank line is ``source<TAB>target`` or, without a tab, two
    whitespace-separated words. Repeated pairs are kept once (file order)
    unless ``unique`` is False.

    Arguments
    ---------
    path : str
    lowercase : bool
        Lower-case (and NFKC-normalise) both words, as the corpora are.
    on_error : "raise" or "skip"
        A malformed line raises :class:`DictionaryError` naming the file and
        line, or is skipped with a counted warning.

    Example
    -------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "en-es.txt")
    >>> _ = open(p, "w").write("the\\tel\\nthe\\tla\\nKing rey\\n\\nthe\\tel\\n")
    >>> read_muse_dictionary(p)
    [('the', 'el'), ('the', 'la'), ('king', 'rey')]
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    path = os.fspath(path)
    try:
        handle = open(path, "rb")
    except OSError as err:
        raise DictionaryError(f"{path}: cannot open ({err})") from err
    pairs, seen, bad = [], set(), 0
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                problem = f"not valid UTF-8 ({err.reason})"
                line = None
            if line is not None:
                if line_no == 1:
                    line = line.lstrip("\ufeff")
                if not line.strip():
                    continue
                fields = line.split("\t") if "\t" in line else line.split()
                fields = [f.strip() for f in fields]
                if len(fields) == 2 and all(fields):
                    src, tgt = fields
                    if lowercase:
                        src, tgt = normalize_text(src), normalize_text(tgt)
                    if not unique or (src, tgt) not in seen:
                        seen.add((src, tgt))
                        pairs.append((src, tgt))
                    continue
                problem = f"expected 'source<TAB>target', got {line[:80]!r}"
            if on_error == "raise":
                raise DictionaryError(f"{path}:{line_no}: {problem}")
            bad += 1
    if bad:
        logger.warning("%s: skipped %d malformed lines", path, bad)
    if not pairs:
        raise DictionaryError(f"{path}: no word pair in the dictionary")
    return pairs


def write_muse_dictionary(pairs, path, sep="\t"):
    """Write ``(source, target)`` pairs as ``source<sep>target`` lines, atomically.

    With ``sep=" "`` words may not contain spaces (multiword entries need the
    tab separator). Raises :class:`DictionaryError` naming the pair otherwise.

    Example
    -------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "d.txt")
    >>> write_muse_dictionary([("king", "rey"), ("good morning", "buenos días")], p)
    >>> read_muse_dictionary(p)
    [('king', 'rey'), ('good morning', 'buenos días')]
    """
    if sep not in ("\t", " "):
        raise ValueError("sep must be a tab or a space")
    count = 0
    with atomic_write(path) as handle:
        for index, (src, tgt) in enumerate(pairs):
            for word in (src, tgt):
                bad = not word or word != word.strip() or "\t" in word or "\n" in word
                if bad or (sep == " " and " " in word):
                    raise DictionaryError(
                        f"{path}: pair {index} ({src!r}, {tgt!r}) has an empty word or a "
                        "word with a separator in it"
                    )
            handle.write(f"{src}{sep}{tgt}\n")
            count += 1
    if count == 0:
        logger.warning("%s: wrote an empty dictionary", path)


def group_by_source(pairs):
    """``{source: [targets...]}`` keeping first-appearance order.

    Example
    -------
    >>> group_by_source([("a", "x"), ("b", "y"), ("a", "z")])
    {'a': ['x', 'z'], 'b': ['y']}
    """
    grouped = {}
    for src, tgt in pairs:
        targets = grouped.setdefault(src, [])
        if tgt not in targets:
            targets.append(tgt)
    return grouped


def filter_to_vocabularies(pairs, src_vocab, tgt_vocab, source_name):
    """Keep the pairs whose source is in ``src_vocab`` and target in ``tgt_vocab``.

    Arguments
    ---------
    pairs : list of (str, str)
    src_vocab, tgt_vocab : container of str
        E.g. the ``index`` of two :class:`~speechbrain_align.dataio.vectors.Embeddings`.
    source_name : str
        The dictionary's file (or name), used in the log and error messages.

    Raises
    ------
    DictionaryError
        If no pair survives (e.g. a dictionary of the wrong language pair).

    Example
    -------
    >>> filter_to_vocabularies([("a", "x"), ("b", "y")], {"a"}, {"x", "y"}, "d.txt")
    [('a', 'x')]
    """
    kept = [(s, t) for s, t in pairs if s in src_vocab and t in tgt_vocab]
    if not kept:
        raise DictionaryError(
            f"{source_name}: none of its {len(pairs)} pairs has both words in the "
            f"vocabularies ({len(src_vocab)} source, {len(tgt_vocab)} target words); "
            "is it the right language pair / corpus?"
        )
    n_src = len({s for s, _ in kept})
    logger.info(
        "%s: kept %d of %d pairs (%d source words) in the vocabularies",
        source_name, len(kept), len(pairs), n_src,
    )
    return kept


def split_dictionary(pairs, test_size=0.2, seed=1234):
    """Split pairs into train / test with disjoint source words.

    Arguments
    ---------
    pairs : list of (str, str)
    test_size : float in (0, 1) or int
        Fraction, or number, of source words that go to the test part.
    seed : int
        The same seed and pairs give the same split.

    Returns
    -------
    (list, list)
        Train and test pairs, each in the input order.

    Example
    -------
    >>> pairs = [("a", "x"), ("a", "y"), ("b", "z"), ("c", "w"), ("d", "v")]
    >>> train, test = split_dictionary(pairs, test_size=2, seed=0)
    >>> len({s for s, _ in test}), {s for s, _ in train} & {s for s, _ in test}
    (2, set())
    """
    sources = list(group_by_source(pairs))
    if isinstance(test_size, float):
        if not 0.0 < test_size < 1.0:
            raise ValueError("a fractional test_size must be in (0, 1)")
        n_test = int(round(test_size * len(sources)))
    else:
        n_test = int(test_size)
    if not 0 < n_test < len(sources):
        raise DictionaryError(
            f"cannot put {n_test} of {len(sources)} source words in the test part"
        )
    order = np.random.RandomState(seed).permutation(len(sources))
    test_sources = {sources[i] for i in order[:n_test]}
    train = [p for p in pairs if p[0] not in test_sources]
    test = [p for p in pairs if p[0] in test_sources]
    return train, test
