"""Segment manifests from real word-boundary sources.

Every reader returns a list of :class:`~speechbrain_align.dataio.manifest.Segment`
(one per spoken word token) that :func:`write_segment_manifest` writes as CSV.
Common rules:

* words are normalised with :func:`normalize_text` (NFKC, lower case, folded
  apostrophes) and stripped; silence labels (``""``, ``sil``, ``sp``,
  ``<eps>``, ...; see :data:`SILENCE_WORDS`) are dropped;
* ``position`` counts only the kept words of an utterance, and segment IDs
  are ``<utt_id>_<position:04d>``;
* bad input raises :class:`AlignmentError` (or
  :class:`~speechbrain_align.dataio.audio.AudioError`) naming the file and
  line; with ``on_error="skip"`` the bad utterance (or file) is dropped and a
  single counted warning is logged per call;
* with ``check_audio=True`` every audio file must exist, be readable and cover
  its segments; files that are not 16 kHz trigger the resampling warning of
  :mod:`speechbrain_align.dataio.audio` (once per rate).

Sources: LibriSpeech alignment text files (:func:`read_librispeech_alignment`),
Montreal Forced Aligner TextGrids (:func:`read_textgrid`), Kaldi CTM
(:func:`read_ctm`), TIMIT ``.wrd`` (:func:`read_timit_wrd`) and isolated-word
folders in the Speech Commands layout (:func:`read_isolated_words`), one
module each (``librispeech``, ``textgrids``, ``ctm``, ``timit``, ``isolated``);
``common`` holds the shared rules and ``speaker_split`` the hashed
speaker-disjoint splits. The public names are re-exported here.
"""

from speechbrain_align.dataio.alignments.common import (
    AUDIO_EXTENSIONS,
    SILENCE_WORDS,
    AlignmentError,
    find_files,
    normalize_word,
    time_rounding,
)
from speechbrain_align.dataio.alignments.librispeech import (
    librispeech_wav,
    read_librispeech_alignment,
    read_librispeech_alignments,
)
from speechbrain_align.dataio.alignments.textgrids import (
    read_textgrid,
    read_textgrids,
)
from speechbrain_align.dataio.alignments.ctm import (
    read_ctm,
    read_kaldi_map,
)
from speechbrain_align.dataio.alignments.timit import (
    read_timit,
    read_timit_wrd,
    timit_speaker,
)
from speechbrain_align.dataio.alignments.isolated import (
    read_isolated_words,
)
from speechbrain_align.dataio.alignments.speaker_split import (
    speaker_bucket,
    split_speakers_by_hash,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "SILENCE_WORDS",
    "AlignmentError",
    "find_files",
    "normalize_word",
    "time_rounding",
    "librispeech_wav",
    "read_librispeech_alignment",
    "read_librispeech_alignments",
    "read_textgrid",
    "read_textgrids",
    "read_ctm",
    "read_kaldi_map",
    "read_timit",
    "read_timit_wrd",
    "timit_speaker",
    "read_isolated_words",
    "speaker_bucket",
    "split_speakers_by_hash",
]
