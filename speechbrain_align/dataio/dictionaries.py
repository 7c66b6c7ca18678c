"""Bilingual dictionaries: MUSE files, FreeDict conversion, pivot synonyms, splits.

A dictionary is a list of ``(source, target)`` word pairs; a source word may
have several targets (one pair each), as in the MUSE ground-truth files
(``source<TAB>target`` or ``source target``, lower case, one pair per line).

The alignment is evaluated by word translation (MUSE dictionaries, or FreeDict
converted to the same format) and, for same-language speech/text alignment,
by synonym retrieval: as in Chung et al. (2018), two English words are
synonyms when they share a translation in a pivot language (en -> es -> en).
"""

import argparse
import collections
import gzip
import logging
import os
import sys

import numpy as np

from speechbrain_align.dataio.tokenize import normalize_text, tokenize
from speechbrain_align.utils.errors import UserError
from speechbrain_align.utils.files import atomic_write

logger = logging.getLogger(__name__)

#: Where Debian's ``dict-freedict-*`` packages install their files.
FREEDICT_DIR = "/usr/share/dictd"


class DictionaryError(UserError, ValueError):
    """A dictionary file or dictionary is unusable; the message names the file (and line)."""


# ---------------------------------------------------------------------------
# MUSE format
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# FreeDict (dictd format)
# ---------------------------------------------------------------------------

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = {c: i for i, c in enumerate(_B64)}


def _dictd_number(text):
    """Decode a dictd index number (base 64, most significant digit first).

    Example
    -------
    >>> _dictd_number("EFb"), _dictd_number("B")
    (16731, 1)
    """
    value = 0
    for char in text:
        value = value * 64 + _B64_VALUE[char]
    return value


def freedict_paths(pair="eng-spa", folder=FREEDICT_DIR):
    """``(index, dict.dz)`` paths of an installed FreeDict dictionary.

    Raises :class:`DictionaryError` naming the Debian package if absent.
    """
    base = os.path.join(os.fspath(folder), f"freedict-{pair}")
    index, data = base + ".index", base + ".dict.dz"
    if not os.path.exists(data) and os.path.exists(base + ".dict"):
        data = base + ".dict"
    for path in (index, data):
        if not os.path.exists(path):
            raise DictionaryError(
                f"{path} not found; install it with 'apt-get install dict-freedict-{pair}'"
            )
    return index, data


def _clean_translation(item):
    """Remove FreeDict numbering, grammar tags and notes from one translation."""
    out, depth = [], 0
    for char in item:
        if char in "<([{":
            depth += 1
        elif char in ">)]}":
            depth = max(depth - 1, 0)
        elif depth == 0:
            out.append(char)
    return "".join(out).strip()


def _looks_truncated(head, pronunciation):
    """True if a one-word headword has a pronunciation of several words.

    Some FreeDict editions cut multiword headwords to their first word but
    keep the whole pronunciation (``be /bbɔn/`` for "be born" -> "nacer").
    English IPA is rarely longer than the spelling, so a pronunciation more
    than two symbols longer than the headword (one for headwords of at most
    four letters) marks such an entry; a few genuine words are lost (in
    eng-spa 0.3.1: ``July``, ``fir``, ``sir``).

    Example
    -------
    >>> _looks_truncated("be", "bbɔn"), _looks_truncated("vegetarian", "vedʒitɛəriən")
    (True, False)
    """
    if pronunciation is None or " " in head:
        return False
    symbols = [c for c in pronunciation if c not in "ˈˌː ."]
    return len(symbols) > len(head) + (1 if len(head) <= 4 else 2)


def read_freedict(index_path, dict_path, keep_multiword=False, drop_truncated=True):
    """Parse a dictd FreeDict dictionary into ``(headword, translation)`` pairs.

    Each entry is a headword line (``word /pronunciation/``) followed by
    translation lines (optionally numbered ``1. ``), comma separated.
    Pronunciations, numbering and grammar / notes in ``<>``, ``()``, ``[]``
    are removed; both sides are normalised with
    :func:`~speechbrain_align.dataio.tokenize.tokenize` (so they match the
    corpora) and entries with ellipses or questions (``no...nunca``,
    ``¿qué hora es?``) are dropped. Multiword headwords or translations are
    dropped unless ``keep_multiword`` (then their tokens are joined by one
    space).

    Note: the Debian eng-spa edition 0.3.1 is noisy (some multiword
    headwords are truncated to their first word and their translations have
    lost their spaces, e.g. ``a -> aldía`` for "a day", ``be -> nacer`` for
    "be born"). With ``drop_truncated`` (default) entries whose pronunciation
    is much longer than the headword are dropped (675 of 5,907 entries in that
    edition, see :func:`_looks_truncated`); filtering to the corpus
    vocabularies (:func:`filter_to_vocabularies`) removes most of the rest.
    """
    index_path, dict_path = os.fspath(index_path), os.fspath(dict_path)
    opener = gzip.open if dict_path.endswith(".dz") else open
    try:
        with opener(dict_path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise DictionaryError(f"{dict_path}: cannot read ({err})") from err
    pairs, seen, bad, truncated = [], set(), 0, 0
    try:
        with open(index_path, encoding="utf-8") as handle:
            index_lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DictionaryError(f"{index_path}: cannot read ({err})") from err
    for line_no, line in enumerate(index_lines, start=1):
        fields = line.split("\t")
        if len(fields) < 3 or not all(c in _B64_VALUE for c in fields[1] + fields[2]):
            raise DictionaryError(f"{index_path}:{line_no}: expected 'word<TAB>offset<TAB>size'")
        if fields[0].startswith("00database") or fields[0].startswith("00-database"):
            continue
        start, size = _dictd_number(fields[1]), _dictd_number(fields[2])
        if start + size > len(data):
            raise DictionaryError(f"{index_path}:{line_no}: entry beyond the end of {dict_path}")
        entry = data[start:start + size].decode("utf-8", errors="replace").strip().splitlines()
        if not entry:
            bad += 1
            continue
        head, _, rest = entry[0].partition(" /")
        head = head.strip()
        pronunciation = rest.rsplit("/", 1)[0] if rest.endswith("/") else None
        if drop_truncated and _looks_truncated(head, pronunciation):
            truncated += 1
            continue
        head_tokens = tokenize(head)
        if not head_tokens or (len(head_tokens) > 1 and not keep_multiword):
            continue
        for text in entry[1:]:
            text = text.strip()
            if text[:1].isdigit() and ". " in text[:4]:
                text = text.split(". ", 1)[1]
            for item in _clean_translation(text).split(","):
                item = item.strip()
                if not item or "..." in item or "?" in item or "\u2026" in item:
                    continue
                tokens = tokenize(item)
                if not tokens or (len(tokens) > 1 and not keep_multiword):
                    continue
                pair = (" ".join(head_tokens), " ".join(tokens))
                if pair not in seen:
                    seen.add(pair)
                    pairs.append(pair)
    if bad:
        logger.warning("%s: %d empty entries", index_path, bad)
    if truncated:
        logger.warning(
            "%s: dropped %d entries whose headword looks truncated from a phrase",
            index_path, truncated,
        )
    if not pairs:
        raise DictionaryError(f"{index_path}: no word pair could be read")
    return pairs


def freedict_to_muse(out_path, pair="eng-spa", folder=FREEDICT_DIR, keep_multiword=False,
                     drop_truncated=True):
    """Convert an installed FreeDict dictionary to a MUSE file; returns the pairs."""
    index, data = freedict_paths(pair, folder)
    pairs = read_freedict(index, data, keep_multiword=keep_multiword,
                          drop_truncated=drop_truncated)
    write_muse_dictionary(pairs, out_path)
    return pairs


# ---------------------------------------------------------------------------
# Synonyms through a pivot language
# ---------------------------------------------------------------------------


def pivot_synonyms(forward_pairs, backward_pairs=None, vocab=None, max_sets=None):
    """Same-language synonym sets through a pivot language (en -> es -> en).

    Two words are synonyms if they share a pivot translation: the synonyms of
    ``w`` are all words ``v != w`` reached by ``w -> p`` in ``forward_pairs``
    and ``p -> v`` in ``backward_pairs`` (default: ``forward_pairs``
    reversed, i.e. words sharing a translation).

    Arguments
    ---------
    forward_pairs : list of (str, str)
        E.g. MUSE en-es.
    backward_pairs : list of (str, str), optional
        E.g. MUSE es-en.
    vocab : container of str, optional
        Keep only words (and synonyms) in it, e.g. the corpus vocabulary.
    max_sets : int, optional
        At most this many words, in first-appearance order of
        ``forward_pairs`` (MUSE files list frequent words first).

    Returns
    -------
    dict
        ``word -> set of synonyms`` for the words with at least one synonym.

    Example
    -------
    >>> en_es = [("car", "coche"), ("automobile", "coche"), ("car", "carro"),
    ...          ("cart", "carro"), ("dog", "perro")]
    >>> syn = pivot_synonyms(en_es)
    >>> {w: sorted(s) for w, s in syn.items()}
    {'car': ['automobile', 'cart'], 'automobile': ['car'], 'cart': ['car']}
    """
    if backward_pairs is None:
        backward_pairs = [(t, s) for s, t in forward_pairs]
    back = collections.defaultdict(set)
    for pivot, word in backward_pairs:
        if vocab is None or word in vocab:
            back[pivot].add(word)
    synonyms = {}
    for word, pivots in group_by_source(forward_pairs).items():
        if vocab is not None and word not in vocab:
            continue
        found = set()
        for pivot in pivots:
            found |= back.get(pivot, set())
        found.discard(word)
        if found:
            synonyms[word] = found
            if max_sets is not None and len(synonyms) >= max_sets:
                break
    return synonyms


def write_synonyms(synonyms, path):
    """Write ``word<TAB>syn1<TAB>syn2...`` lines (synonyms sorted), atomically.

    Example
    -------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "syn.tsv")
    >>> write_synonyms({"car": {"cart", "automobile"}}, p)
    >>> open(p).read()
    'car\\tautomobile\\tcart\\n'
    >>> sorted(read_synonyms(p)["car"])
    ['automobile', 'cart']
    """
    with atomic_write(path) as handle:
        for word, syns in synonyms.items():
            words = [word, *sorted(syns)]
            if any(not w or "\t" in w or "\n" in w for w in words) or len(words) < 2:
                raise DictionaryError(f"{path}: bad synonym set for {word!r}")
            handle.write("\t".join(words) + "\n")


def read_synonyms(path):
    """Read a file written by :func:`write_synonyms`; errors name the file and line."""
    path = os.fspath(path)
    synonyms = {}
    try:
        handle = open(path, "rb")  # decoded line by line so errors name the right line
    except OSError as err:
        raise DictionaryError(f"{path}: cannot open ({err})") from err
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DictionaryError(f"{path}:{line_no}: not UTF-8 ({err})") from err
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2 or not all(fields):
                raise DictionaryError(
                    f"{path}:{line_no}: expected 'word<TAB>synonym[<TAB>synonym...]'"
                )
            synonyms.setdefault(fields[0], set()).update(fields[1:])
    if not synonyms:
        raise DictionaryError(f"{path}: no synonym set")
    return synonyms


# ---------------------------------------------------------------------------
# Train / test split
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def main(argv=None):
    """Command line: ``freedict``, ``synonyms`` and ``split`` sub-commands.

    Examples (shell)::

        python -m speechbrain_align.dataio.dictionaries freedict eng-spa en-es.freedict.txt
        python -m speechbrain_align.dataio.dictionaries synonyms en-es.txt en_syn.tsv \\
            --backward es-en.txt --max-sets 2000
        python -m speechbrain_align.dataio.dictionaries split en-es.txt train.txt test.txt \\
            --test-size 1500 --seed 1234
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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


if __name__ == "__main__":
    from speechbrain_align.utils.errors import run_main

    sys.exit(run_main(main))
