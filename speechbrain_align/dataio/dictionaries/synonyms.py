"""Pivot synonyms: two words are synonyms when they share a translation (en -> es -> en)."""

import collections
import logging
import os

from speechbrain_align.dataio.dictionaries.muse import DictionaryError, group_by_source
from speechbrain_align.utils.files import atomic_write

logger = logging.getLogger(__name__)


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
