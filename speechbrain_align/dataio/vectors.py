"""Word vector files: fastText ``.vec`` text format and a fast binary format.

An :class:`Embeddings` holds words, a float32 matrix and optional counts
(frequencies), kept so that later steps can rank words by frequency as MUSE
does. In ``.vec`` files the counts live in a sidecar ``<file>.counts.tsv``
(``word<TAB>count``) so that the ``.vec`` itself stays readable by any tool;
the binary ``.npz`` format stores all three together.
"""

import logging
import math
import os

import numpy as np

from speechbrain_align.utils.errors import DamagedFileError, UserError
from speechbrain_align.utils.files import atomic_save, atomic_write, load_array_file

logger = logging.getLogger(__name__)


class VectorFileError(UserError, ValueError):
    """A vector file is malformed; the message names the file and line."""


class Embeddings:
    """Words with their vectors (one row each) and optional counts.

    Arguments
    ---------
    words : list of str
    vectors : array-like, shape (len(words), dim)
    counts : array-like of int, optional

    Example
    -------
    >>> e = Embeddings(["a", "b"], [[1.0, 0.0], [0.0, 2.0]], counts=[3, 7])
    >>> e.dim, len(e), e.index["b"]
    (2, 2, 1)
    >>> e.sorted_by_count().words
    ['b', 'a']
    """

    def __init__(self, words, vectors, counts=None):
        self.words = list(words)
        self.vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(
                f"{len(self.words)} words but vectors of shape {self.vectors.shape}"
            )
        self.counts = None if counts is None else np.asarray(counts, dtype=np.int64)
        if self.counts is not None and len(self.counts) != len(self.words):
            raise ValueError("counts and words differ in length")
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("duplicate words in Embeddings")

    def __len__(self):
        return len(self.words)

    @property
    def dim(self):
        """Vector dimension."""
        return self.vectors.shape[1]

    def subset(self, indices):
        """A new Embeddings with the rows at ``indices`` (in that order)."""
        indices = np.asarray(indices, dtype=np.int64)
        counts = None if self.counts is None else self.counts[indices]
        return Embeddings([self.words[i] for i in indices], self.vectors[indices], counts)

    def sorted_by_count(self):
        """Rows sorted by decreasing count (stable); unchanged if no counts."""
        if self.counts is None:
            return self
        return self.subset(np.argsort(-self.counts, kind="stable"))

    def most_frequent(self, n):
        """The ``n`` most frequent words (file order when there are no counts)."""
        ordered = self.sorted_by_count()
        return ordered.subset(np.arange(min(n, len(ordered))))


def counts_path(vec_path):
    """The sidecar file holding the counts of a ``.vec`` file."""
    return os.fspath(vec_path) + ".counts.tsv"


def write_vec(emb, path, precision=6):
    """Write ``emb`` in fastText ``.vec`` format (and counts sidecar), atomically.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "v.vec")
    >>> write_vec(Embeddings(["x", "y"], [[1, 2], [3, 4]], [5, 1]), path)
    >>> e = read_vec(path)
    >>> e.words, e.vectors.tolist(), e.counts.tolist()
    (['x', 'y'], [[1.0, 2.0], [3.0, 4.0]], [5, 1])
    """
    fmt = f"%.{precision}g"
    with atomic_write(path) as handle:
        handle.write(f"{len(emb)} {emb.dim}\n")
        for word, vec in zip(emb.words, emb.vectors):
            if not word or any(c.isspace() for c in word):
                raise VectorFileError(f"{path}: word {word!r} is empty or has whitespace")
            handle.write(word + " " + " ".join(fmt % x for x in vec) + "\n")
    if emb.counts is not None:
        with atomic_write(counts_path(path)) as handle:
            for word, count in zip(emb.words, emb.counts):
                handle.write(f"{word}\t{int(count)}\n")


def read_vec(path, max_vocab=None, on_duplicate="error"):
    """Read a fastText ``.vec`` file (header ``N D`` then ``word v1 .. vD``).

    Arguments
    ---------
    path : str
    max_vocab : int, optional
        Read at most this many words (the first ones, i.e. the most frequent).
    on_duplicate : "error" or "skip"
        A repeated word raises :class:`VectorFileError`, or is skipped with a
        counted warning (the first occurrence is kept).

    Errors name the file and line: a bad header, a header whose word count
    disagrees with the rows (a truncated or edited file; the rows after
    ``max_vocab`` are counted, not parsed), a line whose dimension differs
    from the header, non-numeric or non-finite values.
    """
    path = os.fspath(path)
    try:
        handle = open(path, "rb")
    except OSError as err:
        raise VectorFileError(f"{path}: cannot open ({err})") from err
    words, rows, seen, duplicates, rest = [], [], set(), 0, 0
    count = dim = None
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise VectorFileError(f"{path}:{line_no}: not UTF-8 ({err})") from err
            if line_no == 1:
                count, dim = _parse_header(path, line)
                continue
            if max_vocab is not None and len(words) >= max_vocab:
                rest = _count_rows(handle, raw)
                break
            fields = line.rstrip("\r\n").rstrip(" ").split(" ")
            if len(fields) == 1 and not fields[0]:
                continue
            if len(fields) != dim + 1:
                raise VectorFileError(
                    f"{path}:{line_no}: {len(fields) - 1} values, header says {dim}"
                )
            word = fields[0]
            try:
                vec = [float(x) for x in fields[1:]]
            except ValueError as err:
                raise VectorFileError(f"{path}:{line_no}: {err}") from err
            if not all(math.isfinite(x) for x in vec):
                raise VectorFileError(f"{path}:{line_no}: non-finite value for {word!r}")
            if word in seen:
                if on_duplicate == "error":
                    raise VectorFileError(f"{path}:{line_no}: duplicate word {word!r}")
                duplicates += 1
                continue
            seen.add(word)
            words.append(word)
            rows.append(vec)
    if dim is None:
        raise VectorFileError(f"{path}:1: empty file, expected a '<count> <dim>' header")
    if duplicates:
        logger.warning("%s: skipped %d duplicate words", path, duplicates)
    if len(words) + duplicates + rest != count:
        raise VectorFileError(
            f"{path}:1: header says {count} words but the file has "
            f"{len(words) + duplicates + rest} rows (truncated or edited?)"
        )
    vectors = np.asarray(rows, dtype=np.float32).reshape(len(rows), dim)
    counts = _read_counts(path, words)
    return Embeddings(words, vectors, counts)


def _count_rows(handle, current):
    """Non-empty lines from ``current`` (already read) to the end of ``handle``."""
    return (1 if current.strip() else 0) + sum(1 for line in handle if line.strip())


def _parse_header(path, line):
    parts = line.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[1]) <= 0:
        raise VectorFileError(
            f"{path}:1: header must be '<count> <dim>', got {line.strip()[:60]!r}"
        )
    return int(parts[0]), int(parts[1])


def _read_counts(path, words):
    side = counts_path(path)
    if not os.path.exists(side):
        return None
    table = {}
    with open(side, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise VectorFileError(f"{side}:{line_no}: expected 'word<TAB>count'")
            table[parts[0]] = int(parts[1])
    missing = [w for w in words if w not in table]
    if missing:
        raise VectorFileError(f"{side}: no count for {len(missing)} words, e.g. {missing[0]!r}")
    return np.asarray([table[w] for w in words], dtype=np.int64)


def save_binary(emb, path):
    """Save as ``.npz`` (words, vectors, counts), atomically; loads far faster than text.

    The archive is written through a file handle, so ``path`` keeps its name
    whatever its extension (``np.savez`` would append ``.npz`` to a name).
    """
    arrays = {
        "words": np.asarray(emb.words, dtype=object).astype(str),
        "vectors": emb.vectors,
    }
    if emb.counts is not None:
        arrays["counts"] = emb.counts

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    atomic_save(path, write)


def load_binary(path):
    """Load an ``.npz`` written by :func:`save_binary`."""
    path = os.fspath(path)
    try:
        data = load_array_file(path, "vector archive (.npz)")
    except DamagedFileError as err:
        raise VectorFileError(str(err)) from err
    if not isinstance(data, dict) or "words" not in data or "vectors" not in data:
        raise VectorFileError(f"{path}: archive lacks 'words' or 'vectors'")
    vectors = data["vectors"]
    if not np.isfinite(vectors).all():
        raise VectorFileError(f"{path}: non-finite values in vectors")
    try:
        return Embeddings(data["words"].tolist(), vectors, data.get("counts"))
    except ValueError as err:
        raise VectorFileError(f"{path}: {err}") from err


def load_embeddings(path, max_vocab=None):
    """Read ``.vec`` or ``.npz`` by extension."""
    if os.fspath(path).endswith(".npz"):
        emb = load_binary(path)
        return emb if max_vocab is None else emb.subset(range(min(max_vocab, len(emb))))
    return read_vec(path, max_vocab=max_vocab)


def save_embeddings(emb, path):
    """Write ``.vec`` or ``.npz`` by extension."""
    if os.fspath(path).endswith(".npz"):
        save_binary(emb, path)
    else:
        write_vec(emb, path)
