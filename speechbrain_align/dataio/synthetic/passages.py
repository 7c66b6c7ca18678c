"""The text to speak: passages of a UTF-8 file, utterances, and passages shared among speakers."""

import logging
import os
import re

from speechbrain_align.dataio.tokenize import tokenize
from speechbrain_align.utils.errors import UserError

logger = logging.getLogger(__name__)


class CorpusError(UserError, ValueError):
    """An input text or a corpus option is unusable; the message names it."""


def split_utterances(text, max_tokens=40, min_tokens=8):
    """Cut a passage into utterance texts of at most ``max_tokens`` tokens.

    Sentences (ending in ``. ! ? ; :``) are grouped while the group stays
    within ``max_tokens`` or has fewer than ``min_tokens``; longer sentences
    are cut into even chunks.

    Example
    -------
    >>> split_utterances("One two. Three four five! Six.", max_tokens=4, min_tokens=1)
    ['One two.', 'Three four five! Six.']
    >>> [len(tokenize(u)) for u in split_utterances("a " * 25, max_tokens=10)]
    [9, 8, 8]
    """
    sentences = [s for s in re.split(r"(?<=[.!?;:])\s+", text.strip()) if tokenize(s)]
    units = []
    for sent in sentences:
        words = sent.split()
        n_tok = len(tokenize(sent))
        if n_tok <= max_tokens:
            units.append(sent)
            continue
        n_chunks = -(-n_tok // max_tokens)
        # Cut on whitespace so that each chunk holds about n_tok / n_chunks tokens.
        per_word = [len(tokenize(w)) for w in words]
        target = n_tok / n_chunks
        chunk, count, done = [], 0, 0
        for w, c in zip(words, per_word):
            chunk.append(w)
            count += c
            if count >= target * (done + 1) - 1e-9 and done < n_chunks - 1:
                units.append(" ".join(chunk))
                chunk, done = [], done + 1
        if chunk:
            units.append(" ".join(chunk))
    out, cur, cur_n = [], [], 0
    for unit in units:
        n = len(tokenize(unit))
        if cur and cur_n + n > max_tokens and cur_n >= min_tokens:
            out.append(" ".join(cur))
            cur, cur_n = [], 0
        cur.append(unit)
        cur_n += n
    if cur:
        out.append(" ".join(cur))
    return out


def read_passages(text_file):
    """Read a UTF-8 text file into passages ``[(passage_id, text), ...]``.

    Paragraphs separated by blank lines are passages; a file without blank
    lines gives one passage per line. Raises :class:`CorpusError` naming the
    file (and line) for a missing, empty or non-UTF-8 file; passages without
    any word are skipped with one counted warning.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "t.txt")
    >>> _ = open(path, "w").write("First para.\\nStill first.\\n\\n\\nSecond.\\n")
    >>> read_passages(path)
    [('p00000', 'First para. Still first.'), ('p00001', 'Second.')]
    """
    path = os.fspath(text_file)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise CorpusError(f"{path}: cannot read text file ({err})") from err
    try:
        text = raw.decode("utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise CorpusError(
            f"{path}:{line}: not valid UTF-8 (byte {raw[err.start]:#04x} at offset "
            f"{err.start}); convert the file to UTF-8"
        ) from err
    lines = text.splitlines()
    filled = [i for i, ln in enumerate(lines) if ln.strip()]
    inner_blank = filled and any(not ln.strip() for ln in lines[filled[0]:filled[-1]])
    if inner_blank:
        blocks, cur = [], []
        for ln in lines:
            if ln.strip():
                cur.append(ln.strip())
            elif cur:
                blocks.append(" ".join(cur))
                cur = []
        if cur:
            blocks.append(" ".join(cur))
    else:
        blocks = [ln.strip() for ln in lines if ln.strip()]
    passages, skipped = [], 0
    for block in blocks:
        if tokenize(block):
            passages.append((f"p{len(passages):05d}", block))
        else:
            skipped += 1
    if skipped:
        logger.warning("%s: skipped %d passages without words", path, skipped)
    if not passages:
        raise CorpusError(f"{path}:1: no words found (empty text file?)")
    return passages


def _passage_utterances(text, max_tokens):
    """Utterance texts of a passage given as str or as a list of (key, text)."""
    if isinstance(text, str):
        return split_utterances(text, max_tokens=max_tokens)
    out = []
    for _, unit in text:
        out.extend(split_utterances(unit, max_tokens=max_tokens, min_tokens=max_tokens))
    return out


def _safe_id(text):
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-") or "x"


def assign_passages(passage_tokens, n_speakers):
    """Cut passages into ``n_speakers`` contiguous blocks of similar size.

    Returns the block index of every passage (non-decreasing).

    Example
    -------
    >>> assign_passages([10, 10, 10, 10, 10, 10], 3)
    [0, 0, 1, 1, 2, 2]
    """
    total = float(sum(passage_tokens))
    n = len(passage_tokens)
    if n < n_speakers:
        raise CorpusError(
            f"{n} passages cannot be shared by {n_speakers} speakers "
            f"(give more or shorter passages, or fewer speakers)"
        )
    blocks, cum = [], 0.0
    for i, count in enumerate(passage_tokens):
        mid = cum + count / 2.0
        block = min(n_speakers - 1, int(mid * n_speakers / total)) if total else 0
        # Keep enough passages for the blocks still to come, and never go back.
        block = max(block, blocks[-1] if blocks else 0)
        block = max(block, n_speakers - (n - i))
        if blocks:
            block = min(block, blocks[-1] + 1)
        blocks.append(block)
        cum += count
    return blocks
