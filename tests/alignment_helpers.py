"""Shared helpers of the alignment-reader tests (test_alignments*.py): audio files, rate warnings."""

import os

import numpy as np
import pytest
import soundfile

from speechbrain_align.dataio import audio as audio_mod


def write_audio(path, seconds, rate=16000, fmt=None):
    """A short noise file (FLAC/WAV by extension, or ``fmt``)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(0)
    data = (0.1 * rng.standard_normal(int(round(seconds * rate)))).astype("float32")
    soundfile.write(path, data, rate, format=fmt, subtype="PCM_16")
    return path


@pytest.fixture
def fresh_rate_warnings(monkeypatch):
    """Forget which sample rates audio.py has already warned about."""
    monkeypatch.setattr(audio_mod, "_warned_rates", set())
    audio_mod.audio_info.cache_clear()
    yield
    audio_mod.audio_info.cache_clear()
