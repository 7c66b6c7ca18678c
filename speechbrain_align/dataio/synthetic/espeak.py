"""espeak-ng through its C API (ctypes): voices, synthesis with timing events, phonemes.

The library comes from the ``espeakng-loader`` wheel. :class:`Espeak` speaks
text synchronously and returns the 16-bit audio with the WORD, PHONEME and END
events (sample, character position, phone mnemonic);
:func:`get_engine` is the process-wide instance and
:func:`use_private_engine` gives a worker process its own copy of the library
(its synthesis state lives in C globals that no API call resets).
"""

import ctypes
import logging
import os
import shutil
import tempfile

import numpy as np

from speechbrain_align.utils.errors import UserError

logger = logging.getLogger(__name__)

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


class EspeakError(UserError, RuntimeError):
    """espeak-ng could not be loaded, initialised, or failed to speak."""


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


def use_private_engine():
    """Make this process's engine a fresh private copy of the library (worker start-up)."""
    global _ENGINE
    _ENGINE = Espeak(private_copy=True)
