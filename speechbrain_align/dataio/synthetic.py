"""A multi-speaker spoken corpus with exact word boundaries, from any text.

The speech side of the experiments needs many speakers reading text whose
word boundaries are known. This module speaks text with espeak-ng, loaded
from the ``espeakng-loader`` wheel and driven through its C API (ctypes), and
keeps the synthesiser's own timing events:

* a WORD event marks the sample where each word starts;
* PHONEME events (enabled by ``espeakINITIALIZE_PHONEME_EVENTS``) mark the
  start of every phone and pause, so a word ENDS where the first pause after
  its last phone starts, or, when there is no pause, where the next word
  starts. The word's phone mnemonics are kept too (manifest column
  ``phones``: space-separated espeak-ng mnemonics, stressed vowels prefixed
  with ``'`` or ``,``, pauses and the ``;`` marker left out).

The text spoken for an utterance is exactly
``" ".join(tokenize(utterance_text))``, so transcripts match the text side
token for token. espeak-ng speaks a few frequent word pairs as one dictionary
entry (``in the``) and then emits a single WORD event for both; such groups
are split at the phone count each token has on its own (about 3% of the
tokens of Bible text; where the counts differ, 0.1%, the cut goes where the
neighbouring phones match the isolated pronunciations).

Speakers are combinations of accent (``en-us``, ``en-gb-scotland``,
``en-029``...), voice variant (``+m1`` .. ``+m7``, ``+f1`` .. ``+f4``),
speaking rate, pitch and pitch range, drawn from a seed. Each speaker reads a
contiguous block of passages (as a LibriSpeech reader reads chapters), and
train / valid / test splits have disjoint speakers.

Audio is stored as 16 kHz, 16-bit FLAC, one file per utterance. FLAC is
lossless, so any feature (MFCC, filterbanks, log-Mel images, raw waveform
models) can be computed later from the exact signal, and it takes about 35%
less space than 16-bit WAV on espeak-ng speech (less than MP3-style lossy
codecs would save, but without their artefacts); SpeechBrain and
``soundfile`` read it natively. espeak-ng
renders at 22,050 Hz; the signal is resampled with a band-limited sinc filter
and the boundary sample indices are converted with the same ratio.

Every passage is spoken in a fresh worker process with its own copy of the
espeak-ng library (its synthesis state lives in C globals that no API call
resets), so the corpus is byte-identical for any number of workers and
across runs.

Output folder::

    train.csv valid.csv test.csv    segment manifests (+ column ``phones``)
    audio/<spk_id>/<utt_id>.flac
    corpus_stats.json               sizes, speakers, hours, build time

Command line::

    python -m speechbrain_align.dataio.synthetic --text FILE --out DIR \\
        [--speakers N] [--seed S] [--lang en] [--workers 2]
"""

import argparse
import ctypes
import hashlib
import json
import logging
import multiprocessing
import os
import random
import re
import shutil
import tempfile
import time

import numpy as np

from speechbrain_align.dataio.manifest import Segment, write_segment_manifest
from speechbrain_align.dataio.tokenize import tokenize
from speechbrain_align.utils.files import (
    already_prepared,
    atomic_save,
    mark_prepared,
    write_json,
)
from speechbrain_align.utils.errors import UserError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
DEFAULT_SPLITS = (("train", 2 / 3), ("valid", 1 / 6), ("test", 1 / 6))
#: Bumped whenever the builder's output changes, so finished corpora are rebuilt.
FORMAT_VERSION = 2

# espeak-ng C API constants (speak_lib.h).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_END = 5
_EVENT_MSG_TERMINATED = 6
_EVENT_PHONEME = 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4

# Accents per language (espeak-ng voice names) and voice variants.
ACCENTS = {
    "en": [
        "en-us", "en", "en-gb-scotland", "en-029", "en-gb-x-rp",
        "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc",
    ],
    "es": ["es", "es-419"],
}
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4"]
# Phone mnemonics that are markers rather than phones (kept out of ``phones``).
_NOT_PHONES = {";"}


class EspeakError(UserError, RuntimeError):
    """espeak-ng could not be loaded, initialised, or failed to speak."""


class CorpusError(UserError, ValueError):
    """An input text or a corpus option is unusable; the message names it."""


class _EventId(ctypes.Union):
    _fields_ = [
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    ]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class Espeak:
    """The espeak-ng library of ``espeakng-loader``, in synchronous mode.

    espeak-ng keeps global state, so use one instance per process
    (:func:`get_engine`).

    Example
    -------
    >>> eng = get_engine()
    >>> eng.set_voice("en-us")
    >>> audio, events = eng.synth("good morning")
    >>> eng.sample_rate, [e[0] for e in events if e[0] == "word"]
    (22050, ['word', 'word'])
    """

    def __init__(self, library_path=None, data_path=None, private_copy=False):
        try:
            import espeakng_loader
        except ImportError as err:  # pragma: no cover - declared dependency
            raise EspeakError("the espeakng-loader package is not installed") from err
        library_path = library_path or espeakng_loader.get_library_path()
        data_path = data_path or espeakng_loader.get_data_path()
        try:
            if private_copy:
                lib = _load_private_copy(library_path)
            else:
                lib = ctypes.CDLL(library_path)
        except OSError as err:
            raise EspeakError(f"{library_path}: cannot load espeak-ng ({err})") from err
        lib.espeak_Initialize.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int
        ]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int
        ]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.espeak_Info.restype = ctypes.c_char_p
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_PHONEME_EVENTS
        )
        if rate <= 0:
            raise EspeakError(f"{data_path}: espeak_Initialize failed ({rate})")
        self.lib = lib
        self.sample_rate = rate
        self.version = lib.espeak_Info(None).decode()
        self._chunks = []
        self._events = []
        self._callback = _CALLBACK(self._on_audio)  # keep a reference
        lib.espeak_SetSynthCallback(self._callback)
        self.voice = None

    def _on_audio(self, wav, num_samples, events):
        if wav and num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_WORD:
                self._events.append(("word", ev.sample, ev.text_position, ev.length))
            elif ev.type == _EVENT_PHONEME:
                name = bytes(ev.id.string).split(b"\0")[0].decode("utf-8", "replace")
                self._events.append(("phone", ev.sample, ev.text_position, name))
            elif ev.type in (_EVENT_END, _EVENT_MSG_TERMINATED):
                self._events.append(("end", ev.sample, ev.text_position, None))
            i += 1
        return 0

    def set_voice(self, name, rate=None, pitch=None, pitch_range=None):
        """Select voice ``name`` (``"en-us+m3"``) and optional prosody.

        ``rate`` is in words per minute (80..450), ``pitch`` and
        ``pitch_range`` are 0..100 (espeak-ng defaults: 175, 50, 50). Unknown
        names fall back to a voice chosen by language (the part before ``+``);
        raises :class:`EspeakError` when neither works.
        """
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            language = name.split("+")[0]
            props = _Voice(name=None, languages=language.encode(), identifier=None,
                           gender=0, age=0, variant=0)
            if self.lib.espeak_SetVoiceByProperties(ctypes.byref(props)) != 0:
                raise EspeakError(f"espeak-ng has no voice {name!r}")
            logger.warning("espeak-ng has no voice %r; using language %r", name, language)
        for param, value, default in (
            (_PARAM_RATE, rate, 175),
            (_PARAM_PITCH, pitch, 50),
            (_PARAM_RANGE, pitch_range, 50),
            (_PARAM_VOLUME, None, 100),
        ):
            self.lib.espeak_SetParameter(param, int(default if value is None else value), 0)
        self.voice = name

    def seed_noise(self, seed=1):
        """Seed the noise of breathy voices (``espeak_ng_SetRandSeed``)."""
        if hasattr(self.lib, "espeak_ng_SetRandSeed"):
            self.lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))

    def synth(self, text):
        """Speak ``text``; return ``(int16 samples, events)``.

        Events are tuples ``(kind, sample, text_position, value)`` in order,
        ``kind`` in ``"word"`` (value = length in characters), ``"phone"``
        (value = phoneme mnemonic, pauses start with ``_``) and ``"end"``.
        ``text_position`` counts characters from 1.
        """
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        err = self.lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                    None, None)
        if err != 0:
            raise EspeakError(f"espeak_Synth failed with code {err} on {text[:60]!r}")
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return audio.astype(np.int16, copy=False), list(self._events)

    def phonemes(self, text):
        """espeak-ng phoneme mnemonics of ``text`` (no audio), as a list per word.

        Example
        -------
        >>> eng = get_engine()
        >>> eng.set_voice("en-us")
        >>> eng.phonemes("cat")
        [['k', "'a", 't']]
        """
        src = ctypes.c_char_p(text.encode("utf-8"))
        keep = src  # the library advances the pointer inside this buffer
        words = []
        while src.value:
            out = self.lib.espeak_TextToPhonemes(ctypes.byref(src), _CHARS_UTF8, ord(" ") << 8)
            if out is None:
                break
            for word in out.decode("utf-8", "replace").split("  "):
                phones = [p for p in word.split(" ") if p]
                if phones:
                    words.append(phones)
        del keep
        return words


def _load_private_copy(library_path):
    """dlopen a copy of the library, so that its C globals start fresh.

    The dynamic loader shares one instance per file; a copy under another
    name is a separate instance whose synthesis state (see :func:`_run_tasks`)
    is untouched by anything this process or its parent spoke before.
    """
    folder = tempfile.mkdtemp(prefix="sb_align_espeak_")
    path = os.path.join(folder, "libespeak-ng-private.so")
    try:
        shutil.copyfile(library_path, path)
        return ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the mapping stays valid


_ENGINE = None


def get_engine():
    """The process-wide :class:`Espeak` instance (initialised on first use)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Espeak()
    return _ENGINE


# ----------------------------------------------------------------------------
# Word boundaries from events
# ----------------------------------------------------------------------------


def _is_pause(name):
    return name.startswith("_")


def word_boundaries(tokens, audio_len, events, token_phones=None):
    """Word ``(start, end, phones)`` in samples from espeak-ng events.

    Arguments
    ---------
    tokens : list of str
        The words spoken, joined by single spaces in the synthesised text.
    audio_len : int
        Number of samples synthesised.
    events : list
        As returned by :meth:`Espeak.synth`.
    token_phones : callable, optional
        ``token -> list of phone mnemonics`` when spoken alone; used to split
        a WORD event that espeak-ng gave to several tokens (``in the``).
        Without it, such groups are split evenly over their phones.

    Returns
    -------
    list of ``(start, end, phones)`` with one entry per token, or ``None``
    when the events cannot be matched to the tokens.

    Example
    -------
    >>> ev = [("word", 0, 1, 2), ("phone", 0, 1, "'h"), ("phone", 50, 1, "aI"),
    ...       ("word", 90, 4, 2), ("phone", 90, 4, "j"), ("phone", 120, 4, "u:"),
    ...       ("phone", 150, 6, "_:"), ("end", 200, 6, None)]
    >>> word_boundaries(["hi", "you"], 200, ev)
    [(0, 90, ["'h", 'aI']), (90, 150, ['j', 'u:'])]
    >>> ev[3:5] = [("word", 90, 4, 2), ("phone", 90, 4, "_"), ("phone", 110, 4, "j")]
    >>> word_boundaries(["hi", "you"], 200, ev)
    [(0, 90, ["'h", 'aI']), (110, 150, ['j', 'u:'])]
    """
    # Character offset (1-based) where each token starts in the spoken text.
    starts, pos = [], 1
    for tok in tokens:
        starts.append(pos)
        pos += len(tok) + 1

    def token_at(char_pos):
        # Index of the token whose span contains char_pos.
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= char_pos:
                lo = mid
            else:
                hi = mid - 1
        return lo

    # Group events by WORD event: each group = [first token, sample, items].
    groups = []
    end_sample = audio_len
    for kind, sample, text_pos, value in events:
        if kind == "word":
            tok = token_at(text_pos)
            if groups and groups[-1][0] == tok:
                continue  # one token spoken as two words: keep together
            if groups and tok < groups[-1][0]:
                return None
            groups.append([tok, sample, []])
        elif kind == "phone" and groups:
            groups[-1][2].append((sample, value))
        elif kind == "end":
            end_sample = min(end_sample, sample) if sample > 0 else end_sample
    if not groups or groups[0][0] != 0:
        return None

    # Pauses that espeak-ng puts after a WORD event (rare) belong before the
    # word: it starts at its first phone, and the previous word ends at the
    # first of those pauses.
    lead_pause = []
    for g, (tok, start, items) in enumerate(groups):
        k = 0
        while k < len(items) and _is_pause(items[k][1]):
            k += 1
        lead_pause.append(items[0][0] if k else None)
        if k and k < len(items):
            groups[g][1] = items[k][0]
        groups[g][2] = items[k:]
    out = []
    for g, (tok, start, items) in enumerate(groups):
        if g + 1 < len(groups):
            next_start = groups[g + 1][1]
            if lead_pause[g + 1] is not None:
                next_start = lead_pause[g + 1]
            last_tok = groups[g + 1][0]
        else:
            next_start, last_tok = end_sample, len(tokens)
        # Trailing pauses end the word.
        stop = next_start
        while items and _is_pause(items[-1][1]):
            stop = items[-1][0]
            items = items[:-1]
        n_tok = last_tok - tok
        if sum(1 for _, name in items if name not in _NOT_PHONES) < n_tok:
            return None
        if n_tok == 1:
            pieces = [items]
        else:
            pieces = _split_phones(tokens[tok:last_tok], items, token_phones)
        for k, piece in enumerate(pieces):
            p_start = start if k == 0 else piece[0][0]
            p_stop = pieces[k + 1][0][0] if k + 1 < len(pieces) else stop
            phones = [name for _, name in piece if name not in _NOT_PHONES]
            out.append((int(p_start), int(p_stop), phones))
    if len(out) != len(tokens) or any(e <= s for s, e, _ in out):
        return None
    return out


def _bare(phone):
    """A phone mnemonic without its stress marks."""
    return phone.lstrip("',%=")


def _split_phones(tokens, items, token_phones):
    """Split one WORD event's phone events over several tokens.

    Each token gets as many phones as it has when spoken alone. When the
    merged pronunciation has another number of phones (linking ``r``,
    reduced vowels), every cut is placed near its proportional position, at
    the candidate whose neighbouring phones best match the isolated
    pronunciations (last phone of the word before, first of the word after).

    Example
    -------
    >>> iso = {"from": ["f", "r", "'0", "m"], "where": ["w", "'e@"]}.get
    >>> items = [(i, p) for i, p in enumerate(["f", "r", "V", "m", "w", "'e@", "r"])]
    >>> [[p for _, p in piece] for piece in _split_phones(["from", "where"], items, iso)]
    [['f', 'r', 'V', 'm'], ['w', "'e@", 'r']]
    """
    n = len(tokens)
    real = [i for i, (_, name) in enumerate(items) if name not in _NOT_PHONES]
    names = [items[i][1] for i in real]
    total = len(real)
    iso = [list(token_phones(t)) if token_phones else [] for t in tokens]
    counts = [max(1, len(p)) for p in iso]
    cuts, acc = [], 0  # cut k = index (in real phones) where token k+1 starts
    if sum(counts) == total:
        for c in counts[:-1]:
            acc += c
            cuts.append(acc)
    else:
        scale = total / float(sum(counts))
        for k in range(n - 1):
            acc += counts[k]
            expected = acc * scale
            lo = (cuts[-1] + 1) if cuts else 1
            hi = total - (n - 1 - k)
            best, best_score = None, None
            for cut in range(max(lo, int(expected) - 2), min(hi, int(expected) + 3) + 1):
                score = -abs(cut - expected)
                if iso[k] and _bare(names[cut - 1]) == _bare(iso[k][-1]):
                    score += 1.0
                if iso[k + 1] and _bare(names[cut]) == _bare(iso[k + 1][0]):
                    score += 1.0
                if best_score is None or score >= best_score:  # ties: later cut
                    best, best_score = cut, score
            cuts.append(min(max(best if best is not None else lo, lo), hi))
    # Markers such as ";" stay with the phone before them.
    starts = [0] + [real[c] for c in cuts] + [len(items)]
    return [items[starts[k]:starts[k + 1]] for k in range(n)]


# ----------------------------------------------------------------------------
# Speakers, passages, utterances
# ----------------------------------------------------------------------------


def make_speakers(n_speakers, lang="en", seed=1234):
    """``n_speakers`` distinct speaker descriptions drawn from ``seed``.

    Each is a dict with ``spk_id``, ``voice`` (accent + variant),
    ``rate`` (words per minute), ``pitch`` and ``range``.

    Example
    -------
    >>> spk = make_speakers(3, seed=1)
    >>> [s["spk_id"] for s in spk], len({s["voice"] for s in spk})
    (['spk000', 'spk001', 'spk002'], 3)
    >>> make_speakers(3, seed=1) == spk
    True
    """
    base = lang.split("-")[0]
    accents = ACCENTS.get(lang) or ACCENTS.get(base) or [lang]
    combos = [f"{a}+{v}" for a in accents for v in VARIANTS]
    if n_speakers < 1 or n_speakers > len(combos):
        raise CorpusError(
            f"n_speakers={n_speakers}: language {lang!r} offers 1..{len(combos)} voices"
        )
    rng = random.Random(seed)
    # Spread accents: shuffle within each accent, then interleave accents.
    per_accent = []
    for a in accents:
        vs = [f"{a}+{v}" for v in VARIANTS]
        rng.shuffle(vs)
        per_accent.append(vs)
    order = [vs[i] for i in range(len(VARIANTS)) for vs in per_accent]
    speakers = []
    for idx, voice in enumerate(order[:n_speakers]):
        speakers.append({
            "spk_id": f"spk{idx:03d}",
            "voice": voice,
            "rate": rng.randint(140, 190),
            "pitch": rng.randint(30, 70),
            "range": rng.randint(30, 80),
        })
    return speakers


def split_speakers(speakers, splits=DEFAULT_SPLITS, seed=1234):
    """Assign speakers to splits: ``{split: [spk_id, ...]}`` (disjoint).

    ``splits`` is a sequence of ``(name, amount)``; amounts are either all
    fractions (summing to about 1) or all integer counts. Every split gets at
    least one speaker.

    Example
    -------
    >>> spk = make_speakers(24)
    >>> {k: len(v) for k, v in split_speakers(spk).items()}
    {'train': 16, 'valid': 4, 'test': 4}
    """
    splits = list(splits)
    ids = [s["spk_id"] for s in speakers]
    n = len(ids)
    if n < len(splits):
        raise CorpusError(f"{n} speakers cannot fill {len(splits)} splits")
    amounts = [a for _, a in splits]
    if all(isinstance(a, int) for a in amounts):
        counts = list(amounts)
        if sum(counts) != n:
            raise CorpusError(f"split sizes {counts} do not add up to {n} speakers")
    else:
        total = float(sum(amounts))
        if total <= 0:
            raise CorpusError(f"bad split fractions {amounts}")
        counts = [max(1, int(round(n * a / total))) for a in amounts]
        while sum(counts) > n:
            counts[int(np.argmax(counts))] -= 1
        counts[0] += n - sum(counts)
    rng = random.Random(seed + 1)
    order = ids[:]
    rng.shuffle(order)
    out, i = {}, 0
    for (name, _), c in zip(splits, counts):
        out[name] = sorted(order[i:i + c])
        i += c
    return out


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


# ----------------------------------------------------------------------------
# Synthesis workers
# ----------------------------------------------------------------------------


def _init_worker():
    """Pool initializer: one torch thread and a fresh espeak-ng in this process."""
    global _ENGINE
    import torch

    torch.set_num_threads(1)
    _ENGINE = Espeak(private_copy=True)


def _isolated_phones(engine):
    """``token -> phones of the token spoken alone`` (cached) for one voice."""
    cache = {}

    def phones(token):
        if token not in cache:
            cache[token] = [p for w in engine.phonemes(token) for p in w
                            if not _is_pause(p) and p not in _NOT_PHONES]
        return cache[token]

    return phones


def synthesize_utterance(engine, tokens, sample_rate=SAMPLE_RATE):
    """Speak ``tokens`` with the engine's current voice.

    Returns ``(float32 audio at sample_rate, [(start, end, phones), ...])``
    with boundaries in samples of the returned audio, or ``None`` if espeak-ng's
    events could not be matched to the tokens.
    """
    from speechbrain_align.dataio.audio import resample

    audio, events = engine.synth(" ".join(tokens))
    bounds = word_boundaries(tokens, len(audio), events, _isolated_phones(engine))
    if bounds is None:
        return None
    signal = audio.astype(np.float32) / 32768.0
    if engine.sample_rate != sample_rate:
        signal = resample(signal, engine.sample_rate, sample_rate)
        ratio = sample_rate / engine.sample_rate
        n = len(signal)
        bounds = [
            (min(n, int(round(s * ratio))), min(n, int(round(e * ratio))), ph)
            for s, e, ph in bounds
        ]
    return signal, bounds


def _synthesize_task(task):
    """Worker: one speaker reading one passage. Writes FLACs, returns rows."""
    import soundfile

    engine = get_engine()
    spk, passage_id, utterances, out_dir, split = task
    rows, failed = [], []
    for k, utt_text in enumerate(utterances):
        tokens = tokenize(utt_text)
        utt_id = f"{spk['spk_id']}_{_safe_id(passage_id)}_{k:03d}"
        engine.set_voice(spk["voice"], spk["rate"], spk["pitch"], spk["range"])
        engine.seed_noise(1 + k)
        result = synthesize_utterance(engine, tokens)
        if result is None:
            failed.append(utt_id)
            continue
        signal, bounds = result
        rel = os.path.join("audio", spk["spk_id"], utt_id + ".flac")
        path = os.path.join(out_dir, rel)
        pcm = np.clip(np.round(signal * 32767.0), -32768, 32767).astype(np.int16)
        atomic_save(
            path,
            lambda p, pcm=pcm: soundfile.write(p, pcm, SAMPLE_RATE, format="FLAC",
                                               subtype="PCM_16"),
        )
        for pos, (tok, (s, e, phones)) in enumerate(zip(tokens, bounds)):
            rows.append({
                "wav": os.path.abspath(path), "start": s / SAMPLE_RATE,
                "stop": e / SAMPLE_RATE, "word": tok, "spk_id": spk["spk_id"],
                "utt_id": utt_id, "position": pos, "phones": " ".join(phones),
                "split": split, "utt_seconds": len(pcm) / SAMPLE_RATE,
            })
    return rows, failed


# ----------------------------------------------------------------------------
# Corpus builder
# ----------------------------------------------------------------------------


def _fingerprint(passages):
    digest = hashlib.sha1()
    for pid, text in passages:
        digest.update(str(pid).encode())
        digest.update(b"\0")
        digest.update(json.dumps(text, ensure_ascii=False).encode())
        digest.update(b"\1")
    return digest.hexdigest()


def build_corpus(
    passages,
    out_dir,
    lang="en",
    n_speakers=24,
    splits=DEFAULT_SPLITS,
    seed=1234,
    num_workers=2,
    max_tokens=40,
    progress=True,
):
    """Speak ``passages`` with ``n_speakers`` voices into a segment corpus.

    Arguments
    ---------
    passages : list of (passage_id, text)
        ``text`` is a string (cut into utterances at sentence ends) or a list
        of ``(key, text)`` units, each one utterance (e.g. Bible verses;
        units longer than ``max_tokens`` are cut).
    out_dir : str
        Output folder (see the module docstring for its layout).
    lang : str
        ``"en"`` or ``"es"`` (any espeak-ng language works with one accent).
    n_speakers : int
        Number of distinct speakers (at least the number of splits).
    splits : sequence of (name, fraction or count)
        Speaker-disjoint splits; default 2/3, 1/6, 1/6 (16/4/4 of 24).
    seed : int
        Draws the speakers, their splits and their passages.
    num_workers : int
        Processes speaking in parallel (each initialises espeak-ng once);
        the output does not depend on it.
    max_tokens : int
        Longest utterance in tokens.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    dict : the statistics also written to ``corpus_stats.json``.
    """
    t0 = time.time()
    out_dir = os.fspath(out_dir)
    passages = [(str(pid), text) for pid, text in passages]
    if not passages:
        raise CorpusError("build_corpus: no passages given")
    ids = [pid for pid, _ in passages]
    if len(set(ids)) != len(ids):
        dup = next(p for p in ids if ids.count(p) > 1)
        raise CorpusError(f"build_corpus: passage id {dup!r} is repeated")
    split_names = [name for name, _ in splits]
    manifests = [os.path.join(out_dir, f"{name}.csv") for name in split_names]
    stats_path = os.path.join(out_dir, "corpus_stats.json")
    options = {
        "passages_sha1": _fingerprint(passages), "lang": lang,
        "n_speakers": n_speakers, "splits": [list(s) for s in splits], "seed": seed,
        "max_tokens": max_tokens, "format_version": FORMAT_VERSION,
    }
    if already_prepared(manifests + [stats_path], options):
        logger.info("%s: corpus already built with these options, skipping", out_dir)
        with open(stats_path, encoding="utf-8") as handle:
            return json.load(handle)

    audio_dir = os.path.join(out_dir, "audio")
    if os.path.isdir(audio_dir) and os.path.exists(stats_path):
        # A corpus built with other options: its audio would linger unused.
        logger.info("%s: options changed, removing the previous audio", out_dir)
        shutil.rmtree(audio_dir)
    speakers = make_speakers(n_speakers, lang=lang, seed=seed)
    spk_split = split_speakers(speakers, splits, seed=seed)
    split_of = {spk: name for name, spks in spk_split.items() for spk in spks}

    utterances = []
    for pid, text in passages:
        utts = _passage_utterances(text, max_tokens)
        utterances.append([u for u in utts if tokenize(u)])
    counts = [sum(len(tokenize(u)) for u in utts) for utts in utterances]
    keep = [i for i, c in enumerate(counts) if c > 0]
    if len(keep) < len(passages):
        logger.warning("build_corpus: %d passages without words skipped",
                       len(passages) - len(keep))
    blocks = assign_passages([counts[i] for i in keep], n_speakers)
    rng = random.Random(seed + 2)
    reader_of_block = list(range(n_speakers))
    rng.shuffle(reader_of_block)
    tasks = []
    for i, block in zip(keep, blocks):
        spk = speakers[reader_of_block[block]]
        tasks.append((spk, passages[i][0], utterances[i], out_dir, split_of[spk["spk_id"]]))

    engine = get_engine()
    for spk in speakers:  # fail early on a missing voice
        engine.set_voice(spk["voice"])

    rows, failed = _run_tasks(tasks, num_workers, progress)
    if failed:
        logger.warning(
            "build_corpus: %d utterances dropped (espeak-ng events did not match "
            "the tokens), e.g. %s", len(failed), failed[:3]
        )
    by_split = {name: [] for name in split_names}
    for row in rows:
        by_split[row["split"]].append(row)
    stats = {
        "lang": lang, "seed": seed, "sample_rate": SAMPLE_RATE,
        "espeak_ng_version": engine.version, "speakers": n_speakers,
        "tokens": len(rows), "types": len({r["word"] for r in rows}),
        "utterances": len({r["utt_id"] for r in rows}),
        "dropped_utterances": len(failed), "splits": {},
        "speaker_table": [dict(s, split=split_of[s["spk_id"]]) for s in speakers],
    }
    total_seconds = 0.0
    for name, path in zip(split_names, manifests):
        split_rows = by_split[name]
        segments = [
            Segment(wav=r["wav"], start=r["start"], stop=r["stop"], word=r["word"],
                    spk_id=r["spk_id"], utt_id=r["utt_id"], position=r["position"],
                    extra={"phones": r["phones"]})
            for r in split_rows
        ]
        write_segment_manifest(segments, path)
        utt_secs = {r["utt_id"]: r["utt_seconds"] for r in split_rows}
        seconds = sum(utt_secs.values())
        total_seconds += seconds
        stats["splits"][name] = {
            "speakers": len(spk_split[name]), "utterances": len(utt_secs),
            "tokens": len(split_rows), "types": len({r["word"] for r in split_rows}),
            "hours": round(seconds / 3600.0, 4),
        }
    stats["hours"] = round(total_seconds / 3600.0, 4)
    stats["build_seconds"] = round(time.time() - t0, 1)
    write_json(stats_path, stats)
    mark_prepared(manifests + [stats_path], options)
    return stats


def _run_tasks(tasks, num_workers, progress):
    """Run the passage tasks in worker processes, in order.

    espeak-ng keeps synthesis state in C globals (pitch flutter phase, gain
    control, echo buffer...) that no API call resets, so the audio of an
    utterance depends on everything the library spoke before in the process.
    To make the corpus identical for any ``num_workers`` (and whatever the
    calling process spoke before), every passage is spoken by a fresh forked
    process (``maxtasksperchild=1``) that loads its own copy of the library
    and initialises it once.
    """
    from tqdm import tqdm

    import soundfile  # noqa: F401  (imported once here, inherited by forks)
    import torchaudio.functional  # noqa: F401

    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    rows, failed = [], []
    with tqdm(total=len(tasks), desc="speaking passages", unit="passage",
              disable=not progress) as bar:
        with ctx.Pool(max(1, int(num_workers)), initializer=_init_worker,
                      maxtasksperchild=1) as pool:
            for task_rows, task_failed in pool.imap(_synthesize_task, tasks, chunksize=1):
                rows.extend(task_rows)
                failed.extend(task_failed)
                bar.update(1)
    return rows, failed


def main(argv=None):
    """Command line entry point (``sb-align-build-corpus``)."""
    parser = argparse.ArgumentParser(
        description="Speak a UTF-8 text file with espeak-ng voices into a "
        "multi-speaker corpus with word boundaries (segment manifests + FLAC)."
    )
    parser.add_argument("--text", required=True, help="UTF-8 text file")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--speakers", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--lang", default="en", help="en or es (espeak-ng language)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=40)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        passages = read_passages(args.text)
        stats = build_corpus(passages, args.out, lang=args.lang, n_speakers=args.speakers,
                             seed=args.seed, num_workers=args.workers,
                             max_tokens=args.max_tokens)
    except (CorpusError, EspeakError) as err:
        parser.exit(2, f"error: {err}\n")
    shown = {k: v for k, v in stats.items() if k != "speaker_table"}
    print(json.dumps(shown, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    import sys

    from speechbrain_align.utils.errors import run_main

    sys.exit(run_main(main))
