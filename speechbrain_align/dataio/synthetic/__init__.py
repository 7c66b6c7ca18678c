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

Modules: :mod:`~.espeak` (the ctypes binding), :mod:`~.timing` (word
boundaries from events, one utterance's audio), :mod:`~.speakers` (voices and
speaker-disjoint splits), :mod:`~.passages` (reading and cutting the text),
:mod:`~.build` (worker processes, the corpus and its manifests),
:mod:`~.cli`. The names below are re-exported here.

Command line (also ``sb-align-build-corpus``)::

    python -m speechbrain_align.dataio.synthetic --text FILE --out DIR \\
        [--speakers N] [--seed S] [--lang en] [--workers 2]
"""

from speechbrain_align.dataio.synthetic.build import FORMAT_VERSION, build_corpus
from speechbrain_align.dataio.synthetic.cli import main
from speechbrain_align.dataio.synthetic.espeak import Espeak, EspeakError, get_engine
from speechbrain_align.dataio.synthetic.passages import (
    CorpusError,
    assign_passages,
    read_passages,
    split_utterances,
)
from speechbrain_align.dataio.synthetic.speakers import (
    ACCENTS,
    DEFAULT_SPLITS,
    VARIANTS,
    make_speakers,
    split_speakers,
)
from speechbrain_align.dataio.synthetic.timing import (
    SAMPLE_RATE,
    synthesize_utterance,
    word_boundaries,
)

__all__ = [
    "ACCENTS", "DEFAULT_SPLITS", "FORMAT_VERSION", "SAMPLE_RATE", "VARIANTS", "CorpusError",
    "Espeak", "EspeakError", "assign_passages", "build_corpus", "get_engine", "main",
    "make_speakers", "read_passages", "split_speakers", "split_utterances",
    "synthesize_utterance", "word_boundaries",
]
