"""Skip-gram word vectors for the text side (and for any token sequences).

Chung et al. (2018) train the text embedding space with fastText skip-gram.
fastText without sub-word n-grams is exactly word2vec skip-gram with negative
sampling, so this module trains it with gensim's ``Word2Vec(sg=1)``, with
fastText's skip-gram defaults (learning rate 0.05, sub-sampling 1e-4,
5 negatives, window 5, min count 5, 5 epochs) and dimension 50 as in the
paper. The result is an :class:`~speechbrain_align.dataio.vectors.Embeddings`
whose rows are ordered by decreasing corpus frequency and which keeps the
counts (written to the ``.counts.tsv`` sidecar of a ``.vec`` file).

Reproducibility: with ``workers=1`` and a fixed ``seed`` two runs give
identical vectors (word hashing is made independent of ``PYTHONHASHSEED``).
With several worker threads gensim's updates interleave differently on every
run, so multi-worker training is *not* bit-reproducible (only statistically).

Command line::

    python -m speechbrain_align.text.skipgram corpus.txt vectors.vec --dim 50 --workers 2
"""

import argparse
import inspect
import logging
import os
import sys
import time
import zlib

import numpy as np

from speechbrain_align.dataio.vectors import Embeddings, write_vec
from speechbrain_align.utils.errors import UserError

logger = logging.getLogger(__name__)


class SkipgramError(UserError, ValueError):
    """Unusable input for skip-gram training; the message names the file or the problem."""


def _stable_hash(text):
    """A hash of ``text`` that does not depend on ``PYTHONHASHSEED`` (for gensim)."""
    return zlib.crc32(str(text).encode("utf-8"))


def read_corpus_sentences(corpus_path):
    """Token lists of a tokenised corpus (one sentence per line, space separated).

    Raises :class:`SkipgramError` for a missing, empty or non-UTF-8 file
    (naming the file and line).
    """
    from speechbrain_align.dataio.text import TextCorpusError, read_text_file

    try:
        lines = read_text_file(corpus_path)
    except TextCorpusError as err:
        raise SkipgramError(str(err)) from err
    return [tokens for tokens in (line.split() for line in lines) if tokens]


def train_skipgram_on_sentences(
    sentences,
    dim=50,
    window=5,
    min_count=5,
    epochs=5,
    negative=5,
    workers=2,
    seed=1234,
    sg=1,
    alpha=0.05,
    sample=1e-3,
    max_vocab=None,
    runs=1,
    source="<sentences>",
):
    """Train skip-gram vectors on token sequences (words, unit ids, pieces...).

    Arguments
    ---------
    sentences : list of list of str
        Token sequences; non-string tokens (e.g. integer unit ids) are
        converted with ``str``.
    dim, window, min_count, epochs, negative : int
        Vector size, context window, minimum count, passes, negative samples.
    workers : int
        Threads. Only ``workers=1`` is bit-reproducible.
    seed : int
        Seed for initialisation, sub-sampling and negative sampling.
    sg : int
        1 for skip-gram (default), 0 for CBOW.
    alpha : float
        Initial learning rate (fastText's skip-gram default 0.05).
    sample : float
        Sub-sampling threshold of frequent tokens. 1e-3 (word2vec's default)
        suits the corpora here (10^4 to 10^6 tokens): fastText's 1e-4, meant
        for billions of tokens, drops most tokens of a small corpus (the
        oracle T on 17k spoken tokens: supervised P@1 3.3% with 1e-4, 55%
        with 1e-3).
    max_vocab : int, optional
        Keep at most this many most frequent tokens.
    runs : int
        Models trained, with seeds ``seed .. seed + runs - 1``, and averaged
        (:func:`average_runs`): a skip-gram of a small corpus changes a lot
        from seed to seed, and the mean of several is steadier (README).
    source : str
        Name used in error messages.

    Returns
    -------
    Embeddings
        Rows sorted by decreasing count, with the counts.

    Example
    -------
    >>> sents = [["a", "b", "c"], ["b", "c", "a"]] * 20
    >>> emb = train_skipgram_on_sentences(sents, dim=8, min_count=1, epochs=2, workers=1)
    >>> emb.dim, sorted(emb.words), emb.counts.tolist()
    (8, ['a', 'b', 'c'], [40, 40, 40])
    """
    from gensim.models import Word2Vec

    sentences = [[str(t) for t in s] for s in sentences]
    sentences = [s for s in sentences if s]
    if not sentences:
        raise SkipgramError(f"{source}: no tokens to train on")
    n_tokens = sum(len(s) for s in sentences)
    for name, value in (("dim", dim), ("window", window), ("epochs", epochs),
                        ("workers", workers), ("min_count", min_count)):
        if int(value) < 1:
            raise SkipgramError(f"{name} must be at least 1, got {value}")
    if int(runs) < 1:
        raise SkipgramError(f"runs must be at least 1, got {runs}")
    options = dict(dim=dim, window=window, min_count=min_count, negative=negative,
                   workers=workers, sg=sg, alpha=alpha, sample=sample, max_vocab=max_vocab)
    trained = [_train_once(sentences, n_tokens, epochs, int(seed) + r, source, **options)
               for r in range(int(runs))]
    return trained[0] if len(trained) == 1 else average_runs(trained)


def _train_once(sentences, n_tokens, epochs, seed, source, dim, window, min_count, negative,
                workers, sg, alpha, sample, max_vocab):
    """One gensim skip-gram model; its vectors sorted by count."""
    from gensim.models import Word2Vec

    model = Word2Vec(
        vector_size=int(dim),
        window=int(window),
        min_count=int(min_count),
        negative=int(negative),
        hs=0,
        sg=int(sg),
        workers=int(workers),
        seed=int(seed),
        alpha=float(alpha),
        min_alpha=float(alpha) * 1e-4,
        sample=float(sample),
        max_final_vocab=max_vocab,
        hashfxn=_stable_hash,
        sorted_vocab=1,
    )
    model.build_vocab(sentences)
    n_types = len(model.wv.index_to_key)
    if n_types == 0:
        raise SkipgramError(
            f"{source}: no token occurs at least min_count={min_count} times "
            f"({n_tokens} tokens); lower min_count or use a larger corpus"
        )
    start = time.time()
    model.train(sentences, total_examples=len(sentences), total_words=n_tokens,
                epochs=int(epochs))
    logger.info(
        "%s: trained %d-d skip-gram on %d tokens, %d types in %.1f s",
        source, dim, n_tokens, n_types, time.time() - start,
    )
    words = list(model.wv.index_to_key)
    counts = np.asarray([model.wv.get_vecattr(w, "count") for w in words], dtype=np.int64)
    return Embeddings(words, model.wv.vectors.copy(), counts).sorted_by_count()


def average_runs(runs):
    """The mean of several vector sets of one vocabulary, each rotated onto the first.

    Every run's rows are scaled to unit length and rotated onto the first run's
    by orthogonal Procrustes over the whole vocabulary (a skip-gram is defined
    only up to a rotation); the result is their mean, with the first run's
    words and counts.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(30, 4))
    >>> q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    >>> a = Embeddings([str(i) for i in range(30)], x)
    >>> b = Embeddings([str(i) for i in range(29, -1, -1)], (x @ q)[::-1])
    >>> m = average_runs([a, b])
    >>> bool(np.allclose(m.vectors, x / np.linalg.norm(x, axis=1, keepdims=True), atol=1e-5))
    True
    """
    from speechbrain_align.alignment.procrustes import procrustes
    from speechbrain_align.retrieval.search import normalize_rows

    first = runs[0]
    base = normalize_rows(first.vectors).astype(np.float64)
    total = base.copy()
    for emb in runs[1:]:
        if sorted(emb.words) != sorted(first.words):
            raise ValueError("average_runs: the runs do not share one vocabulary")
        rows = normalize_rows(emb.vectors[[emb.index[w] for w in first.words]]).astype(np.float64)
        total += rows @ procrustes(rows, base).T
    return Embeddings(first.words, (total / len(runs)).astype(np.float32), first.counts)


def train_skipgram(corpus_path, **options):
    """Train skip-gram vectors on a tokenised corpus file.

    The corpus is one sentence per line, tokens separated by spaces (as
    written by :func:`speechbrain_align.dataio.text.write_text_corpus`).
    ``options`` are the keywords of :func:`train_skipgram_on_sentences`
    (``dim``, ``window``, ``min_count``, ``epochs``, ``negative``,
    ``workers``, ``seed``, ``sg``, ``alpha``, ``sample``, ``max_vocab``), with
    its defaults; the result's rows are sorted by frequency and keep gensim's
    vocabulary counts.

    Example
    -------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "corpus.txt")
    >>> _ = open(p, "w").write("a b c\\nb c a\\n" * 10)
    >>> emb = train_skipgram(p, dim=4, min_count=1, epochs=1, workers=1)
    >>> emb.dim, emb.counts.tolist()
    (4, [20, 20, 20])
    """
    options.setdefault("source", os.fspath(corpus_path))
    return train_skipgram_on_sentences(read_corpus_sentences(corpus_path), **options)


def nearest_neighbours(emb, word, k=5):
    """The ``k`` nearest words of ``word`` by cosine similarity, with scores.

    Example
    -------
    >>> e = Embeddings(["a", "b", "c"], [[1, 0], [0.9, 0.1], [0, 1]])
    >>> [w for w, _ in nearest_neighbours(e, "a", k=2)]
    ['b', 'c']
    """
    if word not in emb.index:
        raise KeyError(f"{word!r} is not in the vocabulary")
    vecs = emb.vectors / np.maximum(np.linalg.norm(emb.vectors, axis=1, keepdims=True), 1e-12)
    sims = vecs @ vecs[emb.index[word]]
    sims[emb.index[word]] = -np.inf
    order = np.argsort(-sims, kind="stable")[:k]
    return [(emb.words[i], float(sims[i])) for i in order]


def skipgram_defaults():
    """The default keyword values of :func:`train_skipgram_on_sentences` (the one
    place where skip-gram settings are defined; CLIs and recipes read them here).

    Example
    -------
    >>> d = skipgram_defaults()
    >>> d["sample"], d["dim"], "source" in d
    (0.001, 50, False)
    """
    params = inspect.signature(train_skipgram_on_sentences).parameters
    return {name: p.default for name, p in params.items()
            if p.default is not inspect.Parameter.empty and name != "source"}


def add_arguments(parser):
    """Skip-gram hyperparameters as ``argparse`` options (shared with recipes)."""
    d = skipgram_defaults()
    parser.add_argument("--dim", type=int, default=d["dim"])
    parser.add_argument("--window", type=int, default=d["window"])
    parser.add_argument("--min_count", "--min-count", type=int, default=d["min_count"])
    parser.add_argument("--epochs", type=int, default=d["epochs"])
    parser.add_argument("--negative", type=int, default=d["negative"])
    parser.add_argument("--workers", "--threads", type=int, default=d["workers"])
    parser.add_argument("--seed", type=int, default=d["seed"])
    parser.add_argument("--alpha", type=float, default=d["alpha"])
    parser.add_argument("--sample", type=float, default=d["sample"])
    parser.add_argument("--max_vocab", "--max-vocab", type=int, default=d["max_vocab"])
    parser.add_argument("--runs", type=int, default=d["runs"],
                        help="models to train (successive seeds) and average")
    return parser


def main(argv=None):
    """Command line: train vectors on a tokenised corpus and write a ``.vec`` file.

    Also writes the counts sidecar ``<output>.counts.tsv``. Prints the
    training time and the nearest neighbours of ``--probe`` words.
    """
    parser = argparse.ArgumentParser(description="Train skip-gram word vectors (.vec)")
    parser.add_argument("corpus", help="tokenised corpus, one sentence per line")
    parser.add_argument("output", help="output .vec file")
    parser.add_argument("--probe", nargs="*", default=[],
                        help="print nearest neighbours of these words")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if os.path.exists(args.output) and not os.path.isfile(args.output):
        # An atomic write renames a temporary file over the target: never do
        # that to a device (e.g. /dev/null) or a folder.
        print(f"error: {args.output} exists and is not a regular file", file=sys.stderr)
        return 1
    start = time.time()
    try:
        emb = train_skipgram(
            args.corpus, dim=args.dim, window=args.window, min_count=args.min_count,
            epochs=args.epochs, negative=args.negative, workers=args.workers,
            seed=args.seed, alpha=args.alpha, sample=args.sample, max_vocab=args.max_vocab,
            runs=args.runs,
        )
    except SkipgramError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_vec(emb, args.output)
    print(f"{args.output}: {len(emb)} words x {emb.dim} in {time.time() - start:.1f} s")
    for word in args.probe:
        if word in emb.index:
            near = ", ".join(f"{w} {s:.2f}" for w, s in nearest_neighbours(emb, word))
            print(f"{word}: {near}")
        else:
            print(f"{word}: not in the vocabulary")
    return 0


if __name__ == "__main__":
    from speechbrain_align.utils.errors import run_main

    sys.exit(run_main(main))
