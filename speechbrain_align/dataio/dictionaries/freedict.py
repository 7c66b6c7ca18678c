"""FreeDict dictionaries in dictd format (Debian ``dict-freedict-*``) converted to MUSE pairs."""

import gzip
import logging
import os

from speechbrain_align.dataio.dictionaries.muse import DictionaryError, write_muse_dictionary
from speechbrain_align.dataio.tokenize import tokenize

logger = logging.getLogger(__name__)

#: Where Debian's ``dict-freedict-*`` packages install their files.
FREEDICT_DIR = "/usr/share/dictd"


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
