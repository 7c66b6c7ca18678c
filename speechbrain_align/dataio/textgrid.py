"""A small reader for Praat TextGrid files (long and short text formats).

Montreal Forced Aligner writes its word and phone alignments as TextGrids.
Both Praat text formats carry the same sequence of values (numbers, quoted
strings and ``<exists>`` flags); the long format only adds labels such as
``xmin =`` and ``intervals [3]:``. The tokenizer below therefore keeps the
values, skips labels, bracketed indices and ``!`` comments, and the parser
reads the value sequence, so one code path handles both formats. Every value
remembers its line so that errors can name ``file:line``.
"""

import codecs
import dataclasses
import re

from speechbrain_align.dataio.manifest import ManifestError

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_INDEX = re.compile(r"\[\s*\d*\s*\]")
_FLAG = re.compile(r"<(exists|absent)>")


class TextGridError(ManifestError):
    """A TextGrid file is malformed; the message names the file and line."""


@dataclasses.dataclass
class Interval:
    """One interval (or point, where ``xmin == xmax``) of a tier."""

    xmin: float
    xmax: float
    text: str
    line: int


@dataclasses.dataclass
class Tier:
    """A named tier: its class (``IntervalTier``/``TextTier``) and items."""

    name: str
    tier_class: str
    xmin: float
    xmax: float
    items: list
    line: int


def decode_text_file(data, path):
    """Decode the bytes of a text file (UTF-8, or UTF-16 with a BOM).

    Raises :class:`ManifestError` naming the file and the line of the first
    byte that is not valid UTF-8.

    Example
    -------
    >>> decode_text_file("a\\nb".encode("utf-8"), "x.txt")
    'a\\nb'
    >>> try:
    ...     decode_text_file(b"ok\\n\\xff\\xfe bad", "x.txt")
    ... except ManifestError as err:
    ...     print(err)
    x.txt:2: not valid UTF-8 text (byte 0xff)
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as err:
            raise ManifestError(f"{path}: not valid UTF-16 text ({err})") from err
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ManifestError(
            f"{path}:{line}: not valid UTF-8 text (byte 0x{data[err.start]:02x})"
        ) from err


def read_text_file(path):
    """Read a whole text file, with errors naming the file (and line).

    Missing/unreadable files, invalid encodings and empty files (nothing but
    white space) raise :class:`ManifestError`.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise ManifestError(f"{path}: cannot read alignment file ({err})") from err
    text = decode_text_file(data, path)
    if not text.strip():
        raise ManifestError(f"{path}:1: alignment file is empty")
    return text


def _tokens(text, path):
    """Yield ``(kind, value, line)`` with kind in ``num``, ``str``, ``flag``."""
    pos, line, end = 0, 1, len(text)
    while pos < end:
        char = text[pos]
        if char == "\n":
            line += 1
            pos += 1
        elif char.isspace():
            pos += 1
        elif char == "!":  # comment to end of line
            nxt = text.find("\n", pos)
            pos = end if nxt < 0 else nxt
        elif char == '"':
            start_line, chunks, pos = line, [], pos + 1
            while True:
                close = text.find('"', pos)
                if close < 0:
                    raise TextGridError(f"{path}:{start_line}: unterminated string")
                chunks.append(text[pos:close])
                line += text.count("\n", pos, close)
                if close + 1 < end and text[close + 1] == '"':  # "" escape
                    chunks.append('"')
                    pos = close + 2
                    continue
                pos = close + 1
                break
            yield "str", "".join(chunks), start_line
        else:
            match = _INDEX.match(text, pos)
            if match:
                pos = match.end()
                continue
            match = _FLAG.match(text, pos)
            if match:
                yield "flag", match.group(1), line
                pos = match.end()
                continue
            match = _NUMBER.match(text, pos)
            if match and (pos == 0 or not (text[pos - 1].isalnum() or text[pos - 1] == "_")):
                yield "num", float(match.group(0)), line
                pos = match.end()
                continue
            # a label word ("xmin", "intervals:", "=", ...): skip it
            pos += 1
            while pos < end and not text[pos].isspace() and text[pos] not in '"!':
                pos += 1


class _Stream:
    def __init__(self, text, path):
        self.path = path
        self.tokens = list(_tokens(text, path))
        self.index = 0

    def take(self, kind, what):
        if self.index >= len(self.tokens):
            last = self.tokens[-1][2] if self.tokens else 1
            raise TextGridError(f"{self.path}:{last}: file ends early, expected {what}")
        tok_kind, value, line = self.tokens[self.index]
        if tok_kind != kind:
            raise TextGridError(
                f"{self.path}:{line}: expected {what}, found {value!r}"
            )
        self.index += 1
        return value, line

    def peek_kind(self):
        return self.tokens[self.index][0] if self.index < len(self.tokens) else None


def parse_textgrid_text(text, path="<string>"):
    """Parse TextGrid text (long or short format) into a list of :class:`Tier`.

    Example
    -------
    >>> short = '''File type = "ooTextFile"
    ... Object class = "TextGrid"
    ... 0
    ... 1.5
    ... <exists>
    ... 1
    ... "IntervalTier"
    ... "words"
    ... 0
    ... 1.5
    ... 2
    ... 0
    ... 0.6
    ... ""
    ... 0.6
    ... 1.5
    ... "hello"
    ... '''
    >>> tiers = parse_textgrid_text(short)
    >>> tiers[0].name, [(i.xmin, i.xmax, i.text) for i in tiers[0].items]
    ('words', [(0.0, 0.6, ''), (0.6, 1.5, 'hello')])
    """
    stream = _Stream(text, path)
    file_type, line = stream.take("str", '"ooTextFile"')
    if file_type != "ooTextFile":
        raise TextGridError(f"{path}:{line}: not a Praat text file ({file_type!r})")
    obj_class, line = stream.take("str", '"TextGrid"')
    if obj_class != "TextGrid":
        raise TextGridError(f"{path}:{line}: object class is {obj_class!r}, not TextGrid")
    stream.take("num", "xmin")
    stream.take("num", "xmax")
    if stream.peek_kind() == "flag":
        flag, _ = stream.take("flag", "<exists>")
        if flag == "absent":
            return []
    size, line = stream.take("num", "the number of tiers")
    tiers = []
    for _ in range(int(size)):
        tier_class, tier_line = stream.take("str", "a tier class")
        name, _ = stream.take("str", "a tier name")
        xmin, _ = stream.take("num", "tier xmin")
        xmax, _ = stream.take("num", "tier xmax")
        count, _ = stream.take("num", "the number of intervals")
        items = []
        for _ in range(int(count)):
            if tier_class == "IntervalTier":
                start, item_line = stream.take("num", "interval xmin")
                stop, _ = stream.take("num", "interval xmax")
            elif tier_class == "TextTier":
                start, item_line = stream.take("num", "point time")
                stop = start
            else:
                raise TextGridError(f"{path}:{tier_line}: unknown tier class {tier_class!r}")
            label, _ = stream.take("str", "a label")
            items.append(Interval(start, stop, label, item_line))
        tiers.append(Tier(name, tier_class, xmin, xmax, items, tier_line))
    return tiers


def read_textgrid_tiers(path):
    """Read a TextGrid file (long/short text format, UTF-8 or UTF-16).

    Returns a list of :class:`Tier`; errors name the file and line.
    """
    return parse_textgrid_text(read_text_file(path), str(path))


def format_textgrid(tiers, xmin=0.0, xmax=None):
    """Serialise ``{name: [(start, stop, text), ...]}`` as a long-format TextGrid.

    Useful for tests and for writing alignments in MFA's format.

    Example
    -------
    >>> text = format_textgrid({"words": [(0.0, 0.5, ""), (0.5, 1.0, 'say "hi"')]})
    >>> [i.text for i in parse_textgrid_text(text)[0].items]
    ['', 'say "hi"']
    """
    if xmax is None:
        xmax = max((iv[1] for ivs in tiers.values() for iv in ivs), default=0.0)
    out = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        f"xmin = {xmin}",
        f"xmax = {xmax}",
        "tiers? <exists>",
        f"size = {len(tiers)}",
        "item []:",
    ]
    for number, (name, intervals) in enumerate(tiers.items(), start=1):
        out += [
            f"    item [{number}]:",
            '        class = "IntervalTier"',
            f'        name = "{name}"',
            f"        xmin = {xmin}",
            f"        xmax = {xmax}",
            f"        intervals: size = {len(intervals)}",
        ]
        for index, (start, stop, label) in enumerate(intervals, start=1):
            quoted = label.replace('"', '""')
            out += [
                f"        intervals [{index}]:",
                f"            xmin = {start}",
                f"            xmax = {stop}",
                f'            text = "{quoted}"',
            ]
    return "\n".join(out) + "\n"
