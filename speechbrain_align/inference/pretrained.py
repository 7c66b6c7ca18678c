"""Spoken word -> text words and translations, through an exported aligned space.

:class:`AlignedSpace` is a :class:`speechbrain.inference.interfaces.Pretrained`
interface over a folder written by
:func:`speechbrain_align.inference.export.export_aligned_space` (or
:func:`~speechbrain_align.inference.export.export_speech2vec_space`)::

    space = AlignedSpace.from_hparams(source="aligned_space")   # savedir=..., run_opts=...
    space.query("word.wav")                      # nearest words and translations
    vectors = space.encode_batch(wavs, wav_lens)  # (batch, samples) 16 kHz, relative lengths

The ``Pretrainer`` of its ``hyperparams.yaml`` loads the parameter files (see
``aligned_space.yaml``); for a WAV file of one spoken word the path is::

    audio (any rate) -> 16 kHz -> normalised MFCC/Fbank frames
        -> speech encoder vector (Speech2Vec .encode, relative lengths)
        -> the alignment's normalisation (fitted on the speech type vectors)
        -> x W^T (speech -> text space)
        -> nearest text words (NN cosine or CSLS)

and likewise with the foreign mapping for translations. Audio that cannot
hold a word (silent, shorter than :data:`MIN_QUERY_SECONDS`, non-finite)
raises :class:`QueryError` naming it; audio at another rate is resampled with
a warning, kept in the answer's ``notes``.
"""

import logging
import os
import re

import numpy as np
import soundfile
import torch
from speechbrain.inference.interfaces import Pretrained

from speechbrain_align.alignment.normalization import apply_normalizer, fit_normalizer  # noqa: F401 (re-exported)
from speechbrain_align.dataio.audio import TARGET_SAMPLE_RATE, AudioError, resample
from speechbrain_align.inference.export import export_aligned_space  # noqa: F401 (re-exported)
from speechbrain_align.retrieval.search import csls_knn, knn, mean_knn_similarity, normalize_rows
from speechbrain_align.utils.errors import DamagedFileError, UserError, plain_defaults

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
METHODS = ("nn", "csls")
MIN_QUERY_SECONDS = 0.05  # shorter queries hold no word (spoken words last ~0.1 s or more)
SILENCE_PEAK = 1e-3  # peak amplitude below -60 dBFS: no speech to encode


class AlignedSpaceError(UserError, ValueError):
    """An aligned-space folder is incomplete or inconsistent; the message names the file."""


class QueryError(UserError, ValueError):
    """A query cannot hold a spoken word (silent, too short); the message names it."""


def _name(wav):
    return os.fspath(wav) if isinstance(wav, (str, os.PathLike)) else "signal"


def check_signal(signal, name="signal"):
    """Raise :class:`QueryError` when a 16 kHz ``signal`` cannot hold a spoken word.

    Example
    -------
    >>> check_signal(np.zeros(1600, dtype="float32"), "quiet.wav")
    Traceback (most recent call last):
    ...
    speechbrain_align.inference.pretrained.QueryError: quiet.wav: silent (peak amplitude 0.0e+00, below 0.001); no spoken word to look up
    """
    seconds = len(signal) / TARGET_SAMPLE_RATE
    if seconds < MIN_QUERY_SECONDS:
        raise QueryError(
            f"{name}: {seconds * 1000:.1f} ms of audio; a spoken word needs at "
            f"least {MIN_QUERY_SECONDS * 1000:.0f} ms"
        )
    if not np.isfinite(signal).all():
        raise QueryError(f"{name}: the audio has NaN or infinite samples")
    peak = float(np.abs(signal).max())
    if peak < SILENCE_PEAK:
        raise QueryError(
            f"{name}: silent (peak amplitude {peak:.1e}, below {SILENCE_PEAK:g}); "
            "no spoken word to look up"
        )


class AlignedSpace(Pretrained):
    """A spoken-word -> text-word retriever over an exported aligned space.

    Build it with :meth:`from_hparams`; :meth:`encode_batch` gives speech
    vectors of a padded batch of 16 kHz signals, :meth:`query`,
    :meth:`query_batch`, :meth:`nearest_words` and :meth:`translate` answer
    for WAV paths (or ``(signal, rate)`` pairs).

    Arguments
    ---------
    See :class:`speechbrain.inference.interfaces.Pretrained`.
    """

    HPARAMS_NEEDED = [
        "format_version", "feature_extractor", "speech_vectors", "text_vectors", "mapping",
        "normalize", "csls_k",
    ]
    MODULES_NEEDED = ["encoder"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        missing = [name for name in self.MODULES_NEEDED if name not in self.mods]
        if missing:  # Pretrained checks HPARAMS_NEEDED only
            raise AlignedSpaceError(f"hyperparams.yaml: 'modules' lacks {missing}")
        hp = self.hparams
        self.features = hp.feature_extractor
        self.csls_k = int(hp.csls_k)
        speech = hp.speech_vectors.embeddings
        speech_norm, self._fitted = fit_normalizer(speech.vectors, hp.normalize)
        self.speech_words = speech.words
        self.targets = {}
        self._add_target("text", hp.text_vectors.embeddings, hp.mapping, speech_norm)
        if getattr(hp, "foreign_vectors", None) is not None:
            self._add_target("foreign", hp.foreign_vectors.embeddings, hp.foreign_mapping,
                             speech_norm)

    @classmethod
    def from_hparams(cls, source, hparams_file="hyperparams.yaml", **kwargs):
        """Fetch and load an aligned space (SpeechBrain's ``from_hparams``).

        ``source`` is a folder, or a HuggingFace repository / URL as for any
        ``Pretrained``; ``savedir``, ``run_opts`` (e.g. ``{"device": "cuda"}``),
        ``overrides`` are passed on. A local folder that is not a complete
        aligned space of this format raises :class:`AlignedSpaceError` naming
        the file.
        """
        if _is_local(source):
            _check_local(os.path.join(os.fspath(source), hparams_file))
        try:
            return super().from_hparams(source, hparams_file, **kwargs)
        except DamagedFileError as err:
            raise AlignedSpaceError(str(err)) from err

    def _add_target(self, name, emb, mapping, speech_norm):
        matrix = mapping.weight.detach().cpu().numpy().astype(np.float32)
        if matrix.shape != (emb.dim, speech_norm.shape[1]):
            raise AlignedSpaceError(
                f"{name} mapping of shape {matrix.shape} does not map "
                f"speech_dim={speech_norm.shape[1]} to {name}_dim={emb.dim}"
            )
        vectors = normalize_rows(fit_normalizer(emb.vectors, self.hparams.normalize)[0])
        mapped_speech = normalize_rows(speech_norm @ matrix.T)
        csls_k = min(self.csls_k, len(mapped_speech), len(vectors))
        self.targets[name] = {
            "words": emb.words,
            "vectors": vectors,
            "mapping": matrix,
            # CSLS hubness of each target word: mean cosine to its nearest mapped speech types.
            "r_target": mean_knn_similarity(vectors, mapped_speech, csls_k),
            "csls_k": csls_k,
        }

    @property
    def has_foreign(self):
        """True when the space has foreign-language vectors (translations)."""
        return "foreign" in self.targets

    # ------------------------------------------------------------ audio

    def load_audio(self, path, savedir=None):
        """A 1-D float32 16 kHz tensor of ``path`` (any rate, channels mixed down).

        Another rate is resampled with a warning: the encoder learnt from
        16 kHz audio, and upsampled narrowband audio lacks the upper band.
        """
        return torch.from_numpy(self.load_query(path)[0])

    def load_query(self, wav):
        """``(signal, notes)``: a checked 16 kHz float32 signal and warnings about it.

        ``wav`` is a path (read afresh: a file rewritten in place is read
        again) or ``(signal, rate)``. Raises :class:`QueryError` for audio
        that cannot hold a word (see :func:`check_signal`).
        """
        if isinstance(wav, (str, os.PathLike)):
            path = os.fspath(wav)
            try:
                signal, rate = soundfile.read(path, dtype="float32", always_2d=True)
            except Exception as err:  # soundfile raises several types
                raise AudioError(f"{path}: unreadable audio ({err})") from err
            signal = signal.mean(axis=1)
        else:
            signal, rate = wav
        signal = np.asarray(signal, dtype=np.float32)
        if signal.ndim != 1:
            raise ValueError(f"expected a 1-D mono signal, got shape {signal.shape}")
        notes = []
        if rate != TARGET_SAMPLE_RATE:
            note = (f"{_name(wav)}: {rate} Hz audio resampled to {TARGET_SAMPLE_RATE} Hz"
                    + (" (narrowband: the model heard 16 kHz audio; answers may be worse)"
                       if rate < TARGET_SAMPLE_RATE else ""))
            logger.warning(note)
            notes.append(note)
            signal = resample(signal, rate, TARGET_SAMPLE_RATE)
        check_signal(signal, _name(wav))
        return signal, notes

    # ------------------------------------------------------------ encoding

    @torch.no_grad()
    def encode_batch(self, wavs, wav_lens=None):
        """Raw speech vectors ``(batch, speech_dim)`` of a padded batch of 16 kHz signals.

        Arguments
        ---------
        wavs : torch.Tensor
            ``(batch, samples)`` (or one ``(samples,)`` signal).
        wav_lens : torch.Tensor, optional
            Lengths relative to ``samples`` (SpeechBrain convention; None =
            all full length). Each signal's frames are computed on its own
            samples, so a signal gets the same vector whatever it is batched with.

        Returns
        -------
        torch.Tensor on the interface's device.
        """
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        samples = torch.round(wav_lens.float().cpu() * wavs.shape[1]).long().tolist()
        signals = wavs.detach().float().cpu().numpy()
        feats = []
        for i, n in enumerate(samples):
            check_signal(signals[i, :n], f"signal {i} of the batch")
            feats.append(self.features.compute_features(signals[i, :n]))
        padded = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
        lengths = torch.tensor([len(f) for f in feats], dtype=torch.float32) / padded.shape[1]
        encoder = self.mods.encoder
        encode = getattr(encoder, "encode", encoder)
        return encode(padded.to(self.device), lengths.to(self.device))

    def encode_signals(self, signals, batch_size=64):
        """Raw speech vectors ``(N, D)`` (numpy) of 1-D 16 kHz signals, in padded batches."""
        out = []
        for begin in range(0, len(signals), batch_size):
            chunk = [torch.as_tensor(s) for s in signals[begin : begin + batch_size]]
            padded = torch.nn.utils.rnn.pad_sequence(chunk, batch_first=True)
            lens = torch.tensor([len(s) for s in chunk], dtype=torch.float32) / padded.shape[1]
            out.append(self.encode_batch(padded, lens).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    def encode(self, wav):
        """The raw speech vector ``(D,)`` of one spoken word (path or ``(signal, rate)``)."""
        return self.encode_signals([self.load_query(wav)[0]])[0]

    # ------------------------------------------------------------ retrieval

    def map_vectors(self, speech_vectors, target="text"):
        """Normalise raw speech vectors ``(N, D)`` and map them into ``target``'s space."""
        self._check_target(target)
        x = apply_normalizer(np.atleast_2d(speech_vectors), self._fitted)
        return normalize_rows(x @ self.targets[target]["mapping"].T)

    def _check_target(self, target):
        if target not in self.targets:
            raise AlignedSpaceError(
                f"no {target!r} vectors in this space (has {sorted(self.targets)})"
            )

    def search(self, speech_vectors, k=5, method="csls", target="text"):
        """Top-``k`` target words of raw speech vectors ``(N, D)``.

        Returns a list (one per row) of lists of ``{"word", "score"}``, best
        first; scores are cosines (``nn``) or CSLS scores (``csls``).
        """
        if method not in METHODS:
            raise ValueError(f"unknown retrieval method {method!r} (use 'nn' or 'csls')")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        queries = self.map_vectors(speech_vectors, target)
        tgt = self.targets[target]
        if method == "nn":
            scores, idx = knn(queries, tgt["vectors"], k)
        else:
            scores, idx = csls_knn(
                queries, tgt["vectors"], k, csls_k=tgt["csls_k"], r_tgt=tgt["r_target"]
            )
        return [
            [{"word": tgt["words"][j], "score": float(s)} for s, j in zip(row_s, row_i) if j >= 0]
            for row_s, row_i in zip(scores, idx)
        ]

    def nearest_words(self, wav, k=5, method="csls"):
        """Top-``k`` same-language text words for a spoken word (list of dicts)."""
        return self.search(self.encode(wav)[None], k, method, "text")[0]

    def translate(self, wav, k=5, method="csls"):
        """Top-``k`` words of the other language for a spoken word (list of dicts)."""
        self._check_target("foreign")
        return self.search(self.encode(wav)[None], k, method, "foreign")[0]

    def answers(self, vectors, k=5, methods=METHODS, notes=None):
        """One :meth:`query` answer per row of raw speech vectors ``(N, D)``."""
        answers = [{"language": self.hparams.language,
                    "foreign_language": getattr(self.hparams, "foreign_language", None)}
                   for _ in range(len(vectors))]
        for i, row_notes in enumerate(notes or []):
            if row_notes:
                answers[i]["notes"] = list(row_notes)
        for method in methods:
            words = self.search(vectors, k, method, "text")
            foreign = self.search(vectors, k, method, "foreign") if self.has_foreign else None
            for i, answer in enumerate(answers):
                answer[method] = {"words": words[i]}
                if foreign is not None:
                    answer[method]["translations"] = foreign[i]
        return answers

    def query_batch(self, wavs, k=5, methods=METHODS):
        """:meth:`query` answers for several spoken words, encoded in padded batches."""
        loaded = [self.load_query(wav) for wav in wavs]
        vectors = self.encode_signals([signal for signal, _ in loaded])
        return self.answers(vectors, k, methods, [notes for _, notes in loaded])

    def query(self, wav, k=5, methods=METHODS):
        """All answers for a spoken word.

        Returns
        -------
        dict
            ``{"language": .., "foreign_language": .., "nn": {"words": [...],
            "translations": [...]}, "csls": {...}}``; ``translations`` only
            when the space has foreign vectors; ``notes`` when the audio was
            resampled.
        """
        return self.query_batch([wav], k, methods)[0]

    def forward(self, wavs, wav_lens=None):
        """Speech vectors of a padded batch (:meth:`encode_batch`)."""
        return self.encode_batch(wavs, wav_lens)


def _is_local(source):
    """Whether ``source`` names a folder here rather than a hub repository ("owner/name") or URL.

    Example
    -------
    >>> [_is_local(s) for s in ("results/run/space", "speechbrain/x", "https://h/x", "/tmp")]
    [True, False, False, True]
    """
    source = os.fspath(source)
    if os.path.isdir(source):
        return True
    if source.startswith(("http://", "https://")):
        return False
    return re.fullmatch(r"[\w.-]+/[\w.-]+", source) is None or source.startswith(".")


def _check_local(path):
    """A local ``hyperparams.yaml`` exists, reads, and has this code's format version."""
    if not os.path.isfile(path):
        raise AlignedSpaceError(
            f"{path}: not found (is {os.path.dirname(path)} an exported aligned space?)"
        )
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    version = plain_defaults(text, path).get("format_version")
    if version != FORMAT_VERSION:
        raise AlignedSpaceError(
            f"{path}: format_version {version!r}, this code reads {FORMAT_VERSION} "
            "(export the space again)"
        )
