"""Bible verses from installed SWORD modules, dumped with ``mod2imp``.

``mod2imp`` (Debian package ``libsword-utils``) prints a module's raw
entries, which carry OSIS (or GBF / ThML) markup: Strong's numbers,
footnotes, cross references, section headings. :func:`strip_markup` keeps
only the words that are read aloud as the verse; :func:`parse_imp` and
:func:`read_sword_verses` give ``(reference, text)`` verses in canonical
order, optionally limited to some books (:data:`PROTESTANT_CANON`).
"""

import collections
import html
import logging
import os
import re
import shutil
import subprocess

from speechbrain_align.utils.errors import UserError

logger = logging.getLogger(__name__)


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
