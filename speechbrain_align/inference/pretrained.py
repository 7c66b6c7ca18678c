"""Spoken word -> text words and translations, through an exported aligned space.

After the speech and text spaces are aligned, :func:`export_aligned_space`
writes everything needed to answer a query into one folder, and
:class:`AlignedSpace` (in the style of ``speechbrain.inference``:
``AlignedSpace.from_hparams(source=folder)``) loads it. For a WAV file of
one spoken word the path is::

    audio (any rate) -> 16 kHz -> normalised MFCC/Fbank frames
        -> speech encoder vector (Speech2Vec .encode)
        -> the alignment's normalisation (fitted on the speech type vectors)
        -> x W^T (speech -> text space)
        -> nearest text words (NN cosine or CSLS)

and likewise with the foreign mapping for translations.

Folder format (every file written atomically, ``hyperparams.yaml`` last, so
a folder with ``hyperparams.yaml`` is complete)::

    hyperparams.yaml     HyperPyYAML: ``encoder: !new:<class>`` with its
                         constructor arguments, the file names below,
                         ``language``, ``foreign_language``, ``normalize``
                         (steps, as in the alignment), ``csls_k``,
                         ``sample_rate`` and ``format_version``
    encoder.ckpt         the encoder's state_dict (torch.save)
    features.json        feature options and global mean/std
                         (speechbrain_align.speech.features.FeatureExtractor.save)
    speech_vectors.npz   speech type vectors, one per word, BEFORE normalisation
                         (speechbrain_align.dataio.vectors.save_binary)
    text_vectors.npz     text vectors of the same language, before normalisation
    mapping.npy          W, shape (text_dim, speech_dim); mapped = x W^T
    foreign_vectors.npz  (optional) text vectors of the other language
    foreign_mapping.npy  (optional) speech -> foreign map, (foreign_dim, speech_dim);
                         absent with foreign vectors: they are taken to live in
                         the same-language text space already (e.g. MUSE-aligned)
                         and are searched with ``W`` x.

The encoder can be any ``torch.nn.Module`` built by ``!new:`` whose
``encode(feats, lengths)`` (or ``forward``) maps ``(B, T, F)`` frames and
absolute lengths ``(B,)`` to ``(B, D)`` vectors.
"""

import json
import logging
import os

import numpy as np
import soundfile
import torch

from speechbrain_align.alignment.normalization import apply_normalizer, as_steps, fit_normalizer  # noqa: F401 (re-exported)
from speechbrain_align.dataio.audio import TARGET_SAMPLE_RATE, AudioError, resample
from speechbrain_align.dataio.vectors import Embeddings, load_binary, save_binary
from speechbrain_align.retrieval.search import csls_knn, knn, mean_knn_similarity, normalize_rows
from speechbrain_align.utils.errors import DamagedFileError, UserError
from speechbrain_align.utils.files import (
    atomic_save,
    atomic_write,
    load_array_file,
    load_torch_file,
)

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
FILES = {
    "encoder": "encoder.ckpt",
    "features": "features.json",
    "speech_vectors": "speech_vectors.npz",
    "text_vectors": "text_vectors.npz",
    "mapping": "mapping.npy",
    "foreign_vectors": "foreign_vectors.npz",
    "foreign_mapping": "foreign_mapping.npy",
}
METHODS = ("nn", "csls")
MIN_QUERY_SECONDS = 0.05  # shorter queries hold no word (spoken words last ~0.1 s or more)
SILENCE_PEAK = 1e-3  # peak amplitude below -60 dBFS: no speech to encode


class AlignedSpaceError(UserError, ValueError):
    """An aligned-space folder is incomplete or inconsistent; the message names the file."""


class QueryError(UserError, ValueError):
    """A query cannot hold a spoken word (silent, too short); the message names it."""


# ------------------------------------------------------------ normalisation


# ------------------------------------------------------------ export


def _as_embeddings(emb, name):
    if isinstance(emb, Embeddings):
        return emb
    if isinstance(emb, tuple) and len(emb) == 2:
        return Embeddings(emb[0], emb[1])
    raise TypeError(f"{name}: expected Embeddings or (words, vectors), got {type(emb).__name__}")


def _as_matrix(mapping, name):
    if isinstance(mapping, torch.nn.Module):
        mapping = mapping.weight
    if isinstance(mapping, torch.Tensor):
        mapping = mapping.detach().cpu().numpy()
    mapping = np.asarray(mapping, dtype=np.float32)
    if mapping.ndim != 2 or not np.isfinite(mapping).all():
        raise ValueError(f"{name}: expected a finite 2-D matrix, got shape {mapping.shape}")
    return mapping


def _yaml_value(value):
    return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value)


def export_aligned_space(
    folder,
    encoder,
    encoder_hparams,
    features,
    speech_vectors,
    mapping,
    text_vectors,
    foreign_vectors=None,
    foreign_mapping=None,
    encoder_class=None,
    normalize=("unit", "center", "unit"),
    language="en",
    foreign_language=None,
    csls_k=10,
):
    """Write an aligned-space folder that :class:`AlignedSpace` loads.

    Arguments
    ---------
    folder : str
        Output folder (created).
    encoder : torch.nn.Module or dict
        The trained speech encoder (e.g. ``Speech2Vec``) or its state_dict.
    encoder_hparams : dict
        Constructor keyword arguments of the encoder class (JSON-able).
    features : FeatureExtractor, dict or str
        The feature extractor with its training statistics, the dict it
        saves (``options``, ``mean``, ``std``) or the path of that JSON file.
    speech_vectors : Embeddings
        Speech type vectors (one per word type), before normalisation, as
        given to the alignment. Used for the normalisation statistics and
        for CSLS's hubness term.
    mapping : array, tensor or LinearMapping
        W of shape ``(text_dim, speech_dim)``; a speech vector x maps to x W^T.
    text_vectors : Embeddings
        Text vectors of the same language, before normalisation.
    foreign_vectors : Embeddings, optional
        Text vectors of the other language.
    foreign_mapping : array, optional
        Speech -> foreign map ``(foreign_dim, speech_dim)``; if None, the
        foreign vectors must live in the text space and ``mapping`` is used.
    encoder_class : str, optional
        Dotted class path; default: the class of ``encoder`` (a module).
    normalize : list of str
        Normalisation steps applied to every space before mapping.
    language, foreign_language : str
        Language codes, for display.
    csls_k : int
        Neighbourhood size of CSLS's hubness terms.

    Returns
    -------
    str : the path of ``hyperparams.yaml``.
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    if isinstance(encoder, torch.nn.Module):
        if encoder_class is None:
            encoder_class = f"{type(encoder).__module__}.{type(encoder).__qualname__}"
        state = encoder.state_dict()
    elif isinstance(encoder, dict):
        state = encoder
        if encoder_class is None:
            raise ValueError("encoder given as a state_dict: pass encoder_class too")
    else:
        raise TypeError(f"encoder: expected a torch module or state_dict, got {type(encoder)}")
    if isinstance(features, (str, os.PathLike)):
        with open(features, encoding="utf-8") as handle:
            features = json.load(handle)
    elif not isinstance(features, dict):  # a FeatureExtractor
        features = {
            "options": features.options,
            "mean": None if features.mean is None else np.asarray(features.mean).tolist(),
            "std": None if features.std is None else np.asarray(features.std).tolist(),
        }
    if features.get("mean") is None or features.get("std") is None:
        raise ValueError("features: normalisation statistics (mean, std) are missing")

    speech_vectors = _as_embeddings(speech_vectors, "speech_vectors")
    text_vectors = _as_embeddings(text_vectors, "text_vectors")
    mapping = _as_matrix(mapping, "mapping")
    if mapping.shape != (text_vectors.dim, speech_vectors.dim):
        raise ValueError(
            f"mapping has shape {mapping.shape}, expected (text_dim, speech_dim) = "
            f"({text_vectors.dim}, {speech_vectors.dim})"
        )
    if foreign_mapping is not None and foreign_vectors is None:
        raise ValueError("foreign_mapping given without foreign_vectors")
    names = {
        "encoder_file": FILES["encoder"],
        "features_file": FILES["features"],
        "speech_vectors_file": FILES["speech_vectors"],
        "text_vectors_file": FILES["text_vectors"],
        "mapping_file": FILES["mapping"],
        "foreign_vectors_file": None,
        "foreign_mapping_file": None,
    }
    atomic_save(os.path.join(folder, FILES["encoder"]), lambda p: torch.save(state, p))
    with atomic_write(os.path.join(folder, FILES["features"])) as handle:
        json.dump(features, handle, indent=1)
    save_binary(speech_vectors, os.path.join(folder, FILES["speech_vectors"]))
    save_binary(text_vectors, os.path.join(folder, FILES["text_vectors"]))
    atomic_save(os.path.join(folder, FILES["mapping"]), lambda p: np.save(p, mapping))
    if foreign_vectors is not None:
        foreign_vectors = _as_embeddings(foreign_vectors, "foreign_vectors")
        save_binary(foreign_vectors, os.path.join(folder, FILES["foreign_vectors"]))
        names["foreign_vectors_file"] = FILES["foreign_vectors"]
        expected = text_vectors.dim
        if foreign_mapping is not None:
            foreign_mapping = _as_matrix(foreign_mapping, "foreign_mapping")
            if foreign_mapping.shape != (foreign_vectors.dim, speech_vectors.dim):
                raise ValueError(
                    f"foreign_mapping has shape {foreign_mapping.shape}, expected "
                    f"({foreign_vectors.dim}, {speech_vectors.dim})"
                )
            atomic_save(
                os.path.join(folder, FILES["foreign_mapping"]),
                lambda p: np.save(p, foreign_mapping),
            )
            names["foreign_mapping_file"] = FILES["foreign_mapping"]
            expected = foreign_vectors.dim
        if foreign_vectors.dim != expected:
            raise ValueError(
                f"foreign_vectors have dimension {foreign_vectors.dim}, expected {expected}"
            )
    lines = [
        "# Aligned speech/text space exported by speechbrain_align; load with",
        "# speechbrain_align.inference.pretrained.AlignedSpace.from_hparams(source=<this folder>)",
        f"format_version: {FORMAT_VERSION}",
        f"sample_rate: {TARGET_SAMPLE_RATE}",
        f"language: {_yaml_value(language)}",
        f"foreign_language: {_yaml_value(foreign_language)}",
        f"normalize: {_yaml_value(as_steps(normalize))}",
        f"csls_k: {int(csls_k)}",
    ]
    lines += [f"{key}: {_yaml_value(value)}" for key, value in names.items()]
    lines.append(f"encoder: !new:{encoder_class}")
    for key, value in (encoder_hparams or {}).items():
        lines.append(f"    {key}: {_yaml_value(value)}")
    path = os.path.join(folder, "hyperparams.yaml")
    with atomic_write(path) as handle:
        handle.write("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------ inference


def _name(wav):
    return os.fspath(wav) if isinstance(wav, (str, os.PathLike)) else "signal"


class AlignedSpace:
    """A spoken-word -> text-word retriever over an exported aligned space.

    Build it with :meth:`from_hparams`; then :meth:`nearest_words`,
    :meth:`translate` or :meth:`query` take a WAV path (or a signal).

    Arguments
    ---------
    hparams : dict
        The loaded ``hyperparams.yaml``.
    folder : str
        The aligned-space folder.
    device : str
        Torch device for the encoder.
    """

    def __init__(self, hparams, folder, device="cpu"):
        from speechbrain_align.speech.features import FeatureExtractor

        self.hparams = hparams
        self.folder = os.fspath(folder)
        self.device = device
        self.notes = []  # warnings about the last query (e.g. resampling)

        def path(key):
            name = hparams.get(key)
            full = os.path.join(self.folder, name) if name else None
            if full is not None and not os.path.isfile(full):
                raise AlignedSpaceError(f"{full}: missing (named by {key} in hyperparams.yaml)")
            return full

        if "encoder" not in hparams:
            raise AlignedSpaceError(f"{self.folder}/hyperparams.yaml: no 'encoder' key")
        self.encoder = hparams["encoder"].to(device).eval()
        try:
            state = load_torch_file(path("encoder_file"), "encoder checkpoint", device)
            self.encoder.load_state_dict(state)
        except DamagedFileError as err:
            raise AlignedSpaceError(str(err)) from err
        except (RuntimeError, AttributeError, TypeError) as err:
            raise AlignedSpaceError(
                f"{path('encoder_file')}: does not fit the encoder of hyperparams.yaml ({err})"
            ) from err
        self.features = FeatureExtractor.load(path("features_file"))
        self.csls_k = int(hparams.get("csls_k", 10))
        steps = hparams.get("normalize", ["unit", "center", "unit"])

        speech = load_binary(path("speech_vectors_file"))
        speech_norm, self._fitted = fit_normalizer(speech.vectors, steps)
        self.speech_words = speech.words
        self.targets = {}
        mapping = self._load_matrix(path("mapping_file"))
        self._add_target("text", load_binary(path("text_vectors_file")), mapping, speech_norm, steps)
        if hparams.get("foreign_vectors_file"):
            foreign = load_binary(path("foreign_vectors_file"))
            foreign_map = (
                self._load_matrix(path("foreign_mapping_file"))
                if hparams.get("foreign_mapping_file")
                else mapping
            )
            self._add_target("foreign", foreign, foreign_map, speech_norm, steps)

    @staticmethod
    def _load_matrix(path):
        try:
            matrix = load_array_file(path, "mapping (.npy)")
        except DamagedFileError as err:
            raise AlignedSpaceError(str(err)) from err
        if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
            raise AlignedSpaceError(f"{path}: expected a 2-D mapping matrix")
        return matrix

    def _add_target(self, name, emb, mapping, speech_norm, steps):
        if mapping.shape[1] != speech_norm.shape[1] or mapping.shape[0] != emb.dim:
            raise AlignedSpaceError(
                f"{self.folder}: {name} mapping of shape {mapping.shape} does not map "
                f"speech_dim={speech_norm.shape[1]} to {name}_dim={emb.dim}"
            )
        vectors, _ = fit_normalizer(emb.vectors, steps)
        vectors = normalize_rows(vectors)
        mapped_speech = normalize_rows(speech_norm @ mapping.T)
        csls_k = min(self.csls_k, len(mapped_speech), len(vectors))
        self.targets[name] = {
            "words": emb.words,
            "vectors": vectors,
            "mapping": mapping.astype(np.float32),
            # CSLS hubness of each target word: mean cosine to its nearest mapped speech types.
            "r_target": mean_knn_similarity(vectors, mapped_speech, csls_k),
            "csls_k": csls_k,
        }

    @classmethod
    def from_hparams(cls, source, hparams_file="hyperparams.yaml", overrides=None, device="cpu"):
        """Load the aligned space in folder ``source`` (see the module docstring)."""
        from hyperpyyaml import load_hyperpyyaml

        path = os.path.join(os.fspath(source), hparams_file)
        if not os.path.isfile(path):
            raise AlignedSpaceError(f"{path}: not found (is {source} an exported aligned space?)")
        with open(path, encoding="utf-8") as handle:
            hparams = load_hyperpyyaml(handle, overrides or {})
        version = hparams.get("format_version")
        if version != FORMAT_VERSION:
            raise AlignedSpaceError(
                f"{path}: format_version {version!r}, this code reads {FORMAT_VERSION}"
            )
        return cls(hparams, source, device=device)

    @property
    def has_foreign(self):
        """True when the space has foreign-language vectors (translations)."""
        return "foreign" in self.targets

    def load_audio(self, wav):
        """A 16 kHz float32 signal from a path (any rate) or ``(signal, rate)``.

        Another rate is resampled with a warning (also kept in
        ``self.notes`` for :meth:`query`): the encoder learnt from 16 kHz
        audio, and upsampled narrowband audio lacks the upper band.
        """
        if isinstance(wav, (str, os.PathLike)):
            # Read directly rather than through dataio.audio's cached file info,
            # so a file rewritten in place (a temporary query file) is read afresh.
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
        self.notes = []
        if rate == TARGET_SAMPLE_RATE:
            return signal
        note = (f"{_name(wav)}: {rate} Hz audio resampled to {TARGET_SAMPLE_RATE} Hz"
                + (" (narrowband: the model heard 16 kHz audio; answers may be worse)"
                   if rate < TARGET_SAMPLE_RATE else ""))
        logger.warning(note)
        self.notes.append(note)
        return resample(signal, rate, TARGET_SAMPLE_RATE)

    @torch.no_grad()
    def encode(self, wav):
        """The raw speech vector ``(D,)`` of one spoken word (path or ``(signal, rate)``).

        Raises :class:`QueryError` for audio that cannot hold a word: shorter
        than :data:`MIN_QUERY_SECONDS` or silent (peak below :data:`SILENCE_PEAK`).
        """
        signal = self.load_audio(wav)
        seconds = signal.size / TARGET_SAMPLE_RATE
        if seconds < MIN_QUERY_SECONDS:
            raise QueryError(
                f"{_name(wav)}: {seconds * 1000:.1f} ms of audio; a spoken word needs at "
                f"least {MIN_QUERY_SECONDS * 1000:.0f} ms"
            )
        if not np.isfinite(signal).all():
            raise QueryError(f"{_name(wav)}: the audio has NaN or infinite samples")
        peak = float(np.abs(signal).max())
        if peak < SILENCE_PEAK:
            raise QueryError(
                f"{_name(wav)}: silent (peak amplitude {peak:.1e}, below {SILENCE_PEAK:g}); "
                "no spoken word to look up"
            )
        feats = self.features.compute_features(signal).to(self.device)
        lengths = torch.tensor([feats.shape[0]], device=self.device)
        encode = getattr(self.encoder, "encode", self.encoder)
        return encode(feats.unsqueeze(0), lengths)[0].cpu().numpy()

    def map_vectors(self, speech_vectors, target="text"):
        """Normalise raw speech vectors ``(N, D)`` and map them into ``target``'s space."""
        self._check_target(target)
        x = apply_normalizer(np.atleast_2d(speech_vectors), self._fitted)
        return normalize_rows(x @ self.targets[target]["mapping"].T)

    def _check_target(self, target):
        if target not in self.targets:
            raise AlignedSpaceError(
                f"{self.folder}: no {target!r} vectors in this space (has {sorted(self.targets)})"
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

    def query(self, wav, k=5, methods=METHODS):
        """All answers for a spoken word.

        Returns
        -------
        dict
            ``{"language": .., "foreign_language": .., "nn": {"words": [...],
            "translations": [...]}, "csls": {...}}``; ``translations`` only
            when the space has foreign vectors.
        """
        vector = self.encode(wav)[None]
        answer = {
            "language": self.hparams.get("language"),
            "foreign_language": self.hparams.get("foreign_language"),
        }
        if self.notes:
            answer["notes"] = list(self.notes)
        for method in methods:
            answer[method] = {"words": self.search(vector, k, method, "text")[0]}
            if self.has_foreign:
                answer[method]["translations"] = self.search(vector, k, method, "foreign")[0]
        return answer
