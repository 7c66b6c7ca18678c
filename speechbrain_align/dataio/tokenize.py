"""One normalisation and tokenisation for both sides (speech transcripts and text).

The synthetic corpus speaks exactly the tokens this module produces, and the
text side is tokenised with the same function, so a word type means the same
string on both sides.

Rules: Unicode NFKC, lower case, typographic apostrophes folded to ``'``;
tokens are runs of letters, optionally joined by one inner apostrophe
(``don't``, ``o'clock``); digits and all other characters separate tokens
and are dropped.
"""

import re
import unicodedata

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
# A letter run, optionally followed by apostrophe + letter runs.
_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def normalize_text(text):
    """NFKC, lower case and folded apostrophes.

    Example
    -------
    >>> normalize_text("Don\u2019t  PANIC")
    "don't  panic"
    """
    return unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()


def tokenize(text):
    """Normalise ``text`` and split it into word tokens.

    Example
    -------
    >>> tokenize("In the beginning, God created the heavens (v. 1) -- and Earth's light!")
    ['in', 'the', 'beginning', 'god', 'created', 'the', 'heavens', 'v', 'and', "earth's", 'light']
    >>> tokenize("¿Dónde está? 12 años")
    ['dónde', 'está', 'años']
    """
    return _TOKEN.findall(normalize_text(text))
