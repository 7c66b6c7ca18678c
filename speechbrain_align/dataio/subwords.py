"""Sub-word pieces of a tokenised corpus (SentencePiece) and the words back from them."""

import collections
import os

from speechbrain_align.dataio.text import TextCorpusError, read_text_file
from speechbrain_align.utils.files import atomic_write


#: SentencePiece's word-start mark, kept on the first piece of a split word.
WORD_START = "\u2581"
#: Prefix of the non-initial pieces of a split word in :func:`encode_corpus`.
CONTINUATION = "+"


def decode_pieces(tokens):
    """Words back from a line of :func:`encode_corpus` output.

    Example
    -------
    >>> decode_pieces(["the", "\u2581wal", "+king", "a", "\u2581", "+k", "+ing"])
    ['the', 'walking', 'a', 'king']
    """
    words = []
    for token in tokens:
        if token.startswith(CONTINUATION) and words:
            words[-1] += token[len(CONTINUATION):]
        elif token.startswith(WORD_START):
            words.append(token[len(WORD_START):])
        else:
            words.append(token)
    return words


def train_sentencepiece(
    corpus_path, model_prefix, vocab_size, seed=1234, model_type="unigram", threads=1
):
    """Train a SentencePiece model on a tokenised corpus (for sparse words).

    Arguments
    ---------
    corpus_path : str
        Tokenised corpus (one sentence per line).
    model_prefix : str
        Writes ``<prefix>.model`` and ``<prefix>.vocab`` (each renamed into
        place only once training succeeded).
    vocab_size : int
        Number of pieces.
    seed : int
        SentencePiece's random generator seed; with ``threads=1`` the pieces
        are reproducible.
    model_type : str
        ``"unigram"`` or ``"bpe"``.

    Returns
    -------
    str
        Path of the ``.model`` file.
    """
    import sentencepiece as spm

    read_text_file(corpus_path)  # clear error for empty / non-UTF-8 input
    model_prefix = os.fspath(model_prefix)
    folder = os.path.dirname(os.path.abspath(model_prefix))
    os.makedirs(folder, exist_ok=True)
    tmp_prefix = os.path.join(folder, f".{os.path.basename(model_prefix)}.{os.getpid()}.tmp")
    spm.set_random_generator_seed(int(seed))
    try:
        spm.SentencePieceTrainer.train(
            input=os.fspath(corpus_path),
            model_prefix=tmp_prefix,
            vocab_size=int(vocab_size),
            model_type=model_type,
            num_threads=int(threads),
            character_coverage=1.0,
            minloglevel=2,
        )
    except RuntimeError as err:
        for ext in (".model", ".vocab"):
            if os.path.exists(tmp_prefix + ext):
                os.remove(tmp_prefix + ext)
        raise TextCorpusError(f"{corpus_path}: sentencepiece training failed ({err})") from err
    for ext in (".vocab", ".model"):
        os.replace(tmp_prefix + ext, model_prefix + ext)
    return model_prefix + ".model"


def encode_corpus(corpus_path, model_path, out_path, keep_words=None):
    """Rewrite a tokenised corpus as SentencePiece pieces, used afterwards like words.

    Arguments
    ---------
    corpus_path : str
        Tokenised corpus.
    model_path : str
        ``.model`` file from :func:`train_sentencepiece`.
    out_path : str
        Output corpus of pieces (space separated, one line per input line),
        written atomically. The first piece of a split word keeps
        SentencePiece's word-start mark ``▁``, the following pieces get the
        prefix ``+`` (:data:`CONTINUATION`), so that no piece can equal a kept
        word (``tokenize`` never yields these characters); see
        :func:`decode_pieces`.
    keep_words : set of str, optional
        Words written unchanged (e.g. the frequent ones, so that only sparse
        words are split); default: every word is encoded.

    Returns
    -------
    dict
        ``lines``, ``tokens`` (pieces written), ``types``, ``words_split``
        (input tokens encoded into pieces).
    """
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=os.fspath(model_path))
    keep = set(keep_words or ())
    cache = {}
    counts = collections.Counter()
    lines = split = 0
    with atomic_write(out_path) as handle:
        for line in read_text_file(corpus_path):
            pieces = []
            for word in line.split():
                if word in keep:
                    pieces.append(word)
                    continue
                if word not in cache:
                    encoded = processor.encode(word, out_type=str)
                    cache[word] = [
                        p if i == 0 or p.startswith(WORD_START) else CONTINUATION + p
                        for i, p in enumerate(encoded)
                    ]
                pieces.extend(cache[word])
                split += 1
            if pieces:
                counts.update(pieces)
                handle.write(" ".join(pieces) + "\n")
                lines += 1
    return {"lines": lines, "tokens": sum(counts.values()), "types": len(counts),
            "words_split": split}
