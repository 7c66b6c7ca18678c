"""Text corpora: Bible verses from SWORD modules, user text files, vocabularies.

The text side of the alignment needs a plain, tokenised corpus (one line per
verse or sentence, tokens separated by one space) from which skip-gram
vectors are trained. Bibles come from installed SWORD modules, dumped with
``mod2imp`` (Debian package ``libsword-utils``), whose raw entries carry
OSIS (or GBF / ThML) markup: Strong's numbers, footnotes, cross references,
section headings. :func:`strip_markup` keeps only the words that are read
aloud as the verse.

Tokenisation is always :func:`speechbrain_align.dataio.tokenize.tokenize`,
the same function used on speech transcripts, so word types match across
modalities.
"""

import collections
import html
import logging
import os
import re
import shutil
import subprocess

from speechbrain_align.dataio.tokenize import tokenize
from speechbrain_align.utils.errors import UserError
from speechbrain_align.utils.files import atomic_write

logger = logging.getLogger(__name__)


class TextCorpusError(UserError, ValueError):
    """A text input is unusable; the message names the file (and line)."""


class SwordError(UserError, RuntimeError):
    """``mod2imp`` or a SWORD module is missing, or the dump is unusable."""


# SWORD (English locale) book names, as printed by mod2imp, -> OSIS book ids.
SWORD_TO_OSIS = {
    "Genesis": "Gen", "Exodus": "Exod", "Leviticus": "Lev", "Numbers": "Num",
    "Deuteronomy": "Deut", "Joshua": "Josh", "Judges": "Judg", "Ruth": "Ruth",
    "I Samuel": "1Sam", "II Samuel": "2Sam", "I Kings": "1Kgs", "II Kings": "2Kgs",
    "I Chronicles": "1Chr", "II Chronicles": "2Chr", "Ezra": "Ezra",
    "Nehemiah": "Neh", "Esther": "Esth", "Job": "Job", "Psalms": "Ps",
    "Proverbs": "Prov", "Ecclesiastes": "Eccl", "Song of Solomon": "Song",
    "Isaiah": "Isa", "Jeremiah": "Jer", "Lamentations": "Lam", "Ezekiel": "Ezek",
    "Daniel": "Dan", "Hosea": "Hos", "Joel": "Joel", "Amos": "Amos",
    "Obadiah": "Obad", "Jonah": "Jonah", "Micah": "Mic", "Nahum": "Nah",
    "Habakkuk": "Hab", "Zephaniah": "Zeph", "Haggai": "Hag", "Zechariah": "Zech",
    "Malachi": "Mal",
    "Matthew": "Matt", "Mark": "Mark", "Luke": "Luke", "John": "John",
    "Acts": "Acts", "Romans": "Rom", "I Corinthians": "1Cor",
    "II Corinthians": "2Cor", "Galatians": "Gal", "Ephesians": "Eph",
    "Philippians": "Phil", "Colossians": "Col", "I Thessalonians": "1Thess",
    "II Thessalonians": "2Thess", "I Timothy": "1Tim", "II Timothy": "2Tim",
    "Titus": "Titus", "Philemon": "Phlm", "Hebrews": "Heb", "James": "Jas",
    "I Peter": "1Pet", "II Peter": "2Pet", "I John": "1John", "II John": "2John",
    "III John": "3John", "Jude": "Jude", "Revelation of John": "Rev",
    # Deuterocanonical books (present in e.g. engWEB2015eb).
    "Tobit": "Tob", "Judith": "Jdt", "Esther (Greek)": "EsthGr", "Wisdom": "Wis",
    "Sirach": "Sir", "Baruch": "Bar", "Prayer of Azariah": "PrAzar",
    "Susanna": "Sus", "Bel and the Dragon": "Bel", "I Maccabees": "1Macc",
    "II Maccabees": "2Macc", "I Esdras": "1Esd", "Prayer of Manasses": "PrMan",
    "Additional Psalm": "AddPs", "III Maccabees": "3Macc", "II Esdras": "2Esd",
    "IV Maccabees": "4Macc",
}

#: The 66 books shared by Protestant Bibles (pass as ``books=`` to drop the
#: deuterocanon so that different translations cover the same verses).
PROTESTANT_CANON = tuple(list(SWORD_TO_OSIS.values())[:66])

# Debian packages that ship the SWORD modules this project uses.
SWORD_PACKAGES = {
    "engWEB2015eb": "sword-text-web",
    "engKJV2006eb": "sword-text-kjv",
    "spaRV1909eb": "sword-text-sparv",
}

_HEADER = re.compile(r"^\$\$\$(.+?) (\d+):(\d+)$")
_TAG = re.compile(r"<(/?)([A-Za-z][\w:.-]*)((?:\s[^>]*?)?)\s*(/?)>")
_ATTR = re.compile(r'([\w:.-]+)\s*=\s*"([^"]*)"')

# Elements whose whole content is not verse text (OSIS and ThML).
_DROP = {"note", "speaker", "rdg", "catchword", "scripref", "reference"}
# Elements that sit inside words: removed without inserting a space.
_INLINE = {
    "w", "transchange", "divinename", "foreign", "q", "seg", "name", "hi",
    "added", "i", "b", "em", "span", "font", "sup", "sub", "abbr",
}
# Divisions that are not Bible text (WEB appends a glossary after Rev 22:21).
_DROP_DIV_TYPES = {
    "glossary", "back", "front", "introduction", "x-introduction", "colophon",
    "preface", "titlePage", "index", "appendix",
}
# GBF pairs: opening tag -> closing tag, whose content is dropped
# (footnotes, titles, cross references).
_GBF_DROP = {"RF": "Rf", "TS": "Ts", "RX": "Rx", "RB": "Rb"}
# GBF tags inside words: Strong's/morphology (WH0430, WG1145, WTG5656) and
# font changes (FI/Fi, FR/Fr ...); other GBF tags (CM, CL) separate words.
_GBF_INLINE = r"W[HGT]\w*|F[A-Za-z]"


def strip_markup(raw, keep_canonical_titles=True):
    """Plain verse text from a raw SWORD entry (OSIS, GBF or ThML markup).

    Word-level tags (``<w lemma=...>``, ``<transChange>``, GBF ``<WH0430>``)
    are removed and their words kept; footnotes, cross references, variant
    readings, speaker labels and non-canonical titles (section headings) are
    dropped with their content. Canonical titles (Psalm superscriptions, which
    are verse text in most traditions) are kept unless
    ``keep_canonical_titles`` is False. Entities are decoded and whitespace
    collapsed.

    Example
    -------
    >>> raw = ('<title type="x-heading">The Creation</title><w lemma="strong:H7225">'
    ...        'In</w> the beginning, <w lemma="strong:H0430">God</w><note placement="foot">'
    ...        '<reference>1:1</reference>Hebrew: Elohim</note><w>created</w> '
    ...        '<transChange type="added">the</transChange> earth &amp; God&apos;s sky.')
    >>> strip_markup(raw)
    "In the beginning, God created the earth & God's sky."
    >>> strip_markup('Jesus wept.<RF>Or, <FI>shed tears<Fi><Rf> <WG1145>')
    'Jesus wept.'
    """
    out = []
    stack = []              # open OSIS/ThML container elements: (name, dropped)
    milestone_drop = None   # sID of a dropped milestone <div sID=.. type=glossary/>
    gbf_until = None        # closing GBF tag we are waiting for
    pos = 0

    def dropping():
        return gbf_until is not None or milestone_drop is not None or any(
            d for _, d in stack
        )

    for match in _TAG.finditer(raw):
        if not dropping():
            out.append(raw[pos:match.start()])
        pos = match.end()
        closing, name, attrs, selfclosing = match.groups()
        if _is_gbf_tag(name, attrs, closing):
            if gbf_until is not None:
                if name == gbf_until:
                    gbf_until = None
                    out.append(" ")
            elif name in _GBF_DROP:
                gbf_until = _GBF_DROP[name]
                out.append(" ")
            else:
                out.append("" if re.fullmatch(_GBF_INLINE, name) else " ")
            continue
        lname = name.lower()
        sep = "" if lname in _INLINE else " "
        if selfclosing:
            if lname == "div" and milestone_drop is None:
                if _attr(attrs, "type") in _DROP_DIV_TYPES and _attr(attrs, "sID"):
                    milestone_drop = _attr(attrs, "sID")
            elif lname == "div" and _attr(attrs, "eID") == milestone_drop:
                milestone_drop = None
            out.append(sep)
        elif closing:
            names = [n for n, _ in stack]
            if lname in names:
                del stack[len(names) - 1 - names[::-1].index(lname):]
            out.append(sep)
        else:
            dropped = (
                lname in _DROP
                or (lname == "div" and _attr(attrs, "type") in _DROP_DIV_TYPES)
                or (
                    lname == "title"
                    and not (keep_canonical_titles and _attr(attrs, "canonical") == "true")
                )
            )
            stack.append((lname, dropped))
            out.append(sep)
    if not dropping():
        out.append(raw[pos:])
    text = html.unescape("".join(out))
    return " ".join(text.split())


def _attr(attrs, key):
    for name, value in _ATTR.findall(attrs or ""):
        if name == key:
            return value
    return None


def _is_gbf_tag(name, attrs, closing):
    # GBF tags have no attributes, no closing slash and capitalised names
    # (WH0430, FI/Fi, RF/Rf, CM); OSIS and ThML element names start lower case.
    return not closing and not attrs.strip() and bool(re.fullmatch(r"[A-Z][A-Za-z0-9]+", name))


def _run_mod2imp(module, sword_path):
    exe = shutil.which("mod2imp")
    if exe is None:
        raise SwordError(
            "mod2imp was not found on PATH; install it with "
            "'apt-get install libsword-utils'"
        )
    env = dict(os.environ)
    if sword_path is not None:
        env["SWORD_PATH"] = os.fspath(sword_path)
    proc = subprocess.run(
        [exe, module], capture_output=True, env=env, check=False
    )
    stdout = proc.stdout.decode("utf-8", errors="replace")
    stderr = proc.stderr.decode("utf-8", errors="replace")
    if proc.returncode != 0 or "Couldn't find module" in stderr or not stdout.strip():
        package = SWORD_PACKAGES.get(module, "the sword-text-* package providing it")
        where = f" under SWORD_PATH={sword_path}" if sword_path else ""
        raise SwordError(
            f"SWORD module {module!r} not found{where} (mod2imp exit {proc.returncode}: "
            f"{stderr.strip().splitlines()[0] if stderr.strip() else 'no output'}); "
            f"install it with 'apt-get install {package}'"
        )
    return stdout


def parse_imp(dump, keep_canonical_titles=True, books=None, source="<imp>"):
    """Parse ``mod2imp`` output into ``[(ref, text), ...]`` (see :func:`read_sword_verses`).

    Example
    -------
    >>> dump = ("$$$Genesis 1:0\\n<chapter n=\\"1\\"/>\\n$$$Genesis 1:1\\n"
    ...         "<w>In</w> the beginning.\\n$$$Revelation of John 22:21\\nAmen.\\n")
    >>> parse_imp(dump)
    [('Gen.1.1', 'In the beginning.'), ('Rev.22.21', 'Amen.')]
    """
    books = None if books is None else set(books)
    verses, unknown = [], collections.Counter()
    current, body = None, []

    def flush():
        if current is None:
            return
        text = strip_markup("\n".join(body), keep_canonical_titles)
        if text:
            verses.append((current, text))

    for line_no, line in enumerate(dump.splitlines(), start=1):
        if line.startswith("$$$"):
            flush()
            current, body = None, []
            match = _HEADER.match(line.rstrip())
            if match is None:          # module/testament headings
                continue
            book, chapter, verse = match.group(1), int(match.group(2)), int(match.group(3))
            if chapter == 0 or verse == 0:   # book/chapter introductions, headings
                continue
            osis = SWORD_TO_OSIS.get(book)
            if osis is None:
                unknown[book] += 1
                osis = book.replace(" ", "")
            if books is not None and osis not in books:
                continue
            current = f"{osis}.{chapter}.{verse}"
        elif current is not None:
            body.append(line)
    flush()
    if unknown:
        logger.warning(
            "%s: %d verses in books without an OSIS id (used the name without spaces): %s",
            source, sum(unknown.values()), ", ".join(sorted(unknown)),
        )
    return verses


def read_sword_verses(module, sword_path=None, keep_canonical_titles=True, books=None):
    """Verses of an installed SWORD Bible module as ``[(ref, text), ...]``.

    Arguments
    ---------
    module : str
        SWORD module name, e.g. ``"engWEB2015eb"`` (package sword-text-web),
        ``"engKJV2006eb"`` (sword-text-kjv), ``"spaRV1909eb"`` (sword-text-sparv).
    sword_path : str, optional
        Folder holding ``mods.d``/``modules`` (sets ``SWORD_PATH``); default:
        the system configuration (``/usr/share/sword``).
    keep_canonical_titles : bool
        Keep Psalm superscriptions (see :func:`strip_markup`).
    books : iterable of str, optional
        OSIS book ids to keep (e.g. :data:`PROTESTANT_CANON`); default all.

    Returns
    -------
    list of (str, str)
        ``("Gen.1.1", "In the beginning, God created ...")`` in module order;
        chapter/book introductions (verse 0) and empty verses are left out.

    Raises
    ------
    SwordError
        If ``mod2imp`` (package ``libsword-utils``) or the module is missing.
    """
    dump = _run_mod2imp(module, sword_path)
    verses = parse_imp(dump, keep_canonical_titles, books, source=f"mod2imp {module}")
    if not verses:
        raise SwordError(f"SWORD module {module!r} yielded no verses")
    return verses


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
