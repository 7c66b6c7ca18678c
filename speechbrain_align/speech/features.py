"""Acoustic features of 16 kHz signals and all segments' frames in memory.

:class:`FeatureExtractor` computes MFCC or Fbank frames with SpeechBrain's
lobes (:class:`speechbrain.lobes.features.MFCC` /
:class:`~speechbrain.lobes.features.Fbank`) and keeps the normalisation
statistics used in training, so that inference code can call
:meth:`FeatureExtractor.compute_features` on a new signal; it saves them as
JSON (:meth:`FeatureExtractor.save`), also as a SpeechBrain checkpoint
loadable (an exported aligned space's ``feature_extractor.ckpt``).

:class:`FeatureStore` holds all segments' frames of a manifest as one tensor
with offsets, which makes batching cheap (a segment is a view, no disk
access); :mod:`speechbrain_align.speech.feature_cache` computes and caches it.
Normalisation (``feature_norm`` in the Speech2Vec YAML) is either global
mean/variance normalisation with statistics of the training set
(:meth:`FeatureStore.stats`, :meth:`FeatureStore.normalise`) or per-speaker
mean/variance normalisation (speaker CMVN, :meth:`FeatureStore.speaker_stats`,
:meth:`FeatureStore.normalise_by_speaker`): every speaker's frames are
normalised with that speaker's own mean and standard deviation, which removes
constant per-speaker offsets (channel, vocal tract) from the features. With
speaker normalisation the stored statistics are those of the "average training
speaker" (mean of the speakers' means, root-mean-square of their standard
deviations), used for a lone word of an unknown speaker; when more audio of
the speaker is at hand, pass its statistics instead
(``compute_features(signal, *FeatureExtractor.speaker_stats(extractor, signals))``).
"""

import json

import numpy as np
import torch
from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, register_checkpoint_hooks

from speechbrain_align.dataio.audio import TARGET_SAMPLE_RATE
from speechbrain_align.utils.errors import UserError
from speechbrain_align.utils.files import write_json

NORM_MODES = ("global", "speaker")


class FeatureError(UserError, ValueError):
    """Features could not be computed or are non-finite; the message names the segment."""


@register_checkpoint_hooks
class FeatureExtractor:
    """MFCC or Fbank features of a 16 kHz signal, optionally normalised.

    As a SpeechBrain checkpoint loadable (e.g. in a ``Pretrainer``), it
    saves and loads its statistics and ``norm`` with :meth:`save`'s JSON; the
    options stay those of its constructor (a file written with other
    options raises :class:`FeatureError`).

    Arguments
    ---------
    kind : "mfcc" or "fbank"
    n_mfcc : int
        Number of cepstral coefficients (``kind="mfcc"``); 13 in the paper.
    n_mels : int
        Number of Mel filters.
    deltas : bool
        Append first and second derivatives (x3 dimension).
    win_length, hop_length : float
        Window and hop in milliseconds.
    mean, std : array-like, optional
        Normalisation statistics (set later with :meth:`set_stats`).
    norm : "global" or "speaker"
        How the training features were normalised (recorded for inference;
        not part of the feature cache key since the cache holds raw features).

    Example
    -------
    >>> ex = FeatureExtractor(kind="mfcc", n_mfcc=13)
    >>> feats = ex.raw(np.random.RandomState(0).randn(3200).astype("float32"))
    >>> feats.shape  # 0.2 s at a 10 ms hop
    (21, 13)
    >>> ex.dim
    13
    """

    def __init__(
        self,
        kind="mfcc",
        n_mfcc=13,
        n_mels=40,
        deltas=False,
        win_length=25,
        hop_length=10,
        mean=None,
        std=None,
        norm="global",
    ):
        if kind not in ("mfcc", "fbank"):
            raise ValueError(f"feature kind must be 'mfcc' or 'fbank', got {kind!r}")
        self.options = {
            "kind": kind,
            "n_mfcc": int(n_mfcc),
            "n_mels": int(n_mels),
            "deltas": bool(deltas),
            "win_length": float(win_length),
            "hop_length": float(hop_length),
        }
        if norm not in NORM_MODES:
            raise ValueError(f"feature norm must be one of {NORM_MODES}, got {norm!r}")
        self.norm = norm
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.std = None if std is None else np.asarray(std, dtype=np.float32)
        self._lobe = None

    @property
    def dim(self):
        """Feature dimension."""
        base = self.options["n_mfcc"] if self.options["kind"] == "mfcc" else self.options["n_mels"]
        return base * (3 if self.options["deltas"] else 1)

    @property
    def hop_samples(self):
        """Hop between frames, in samples at 16 kHz."""
        return int(round(self.options["hop_length"] * TARGET_SAMPLE_RATE / 1000))

    @property
    def win_samples(self):
        """Window length in samples at 16 kHz."""
        return int(round(self.options["win_length"] * TARGET_SAMPLE_RATE / 1000))

    def _make_lobe(self):
        from speechbrain.lobes.features import MFCC, Fbank

        opts = self.options
        common = dict(
            deltas=opts["deltas"],
            context=False,
            sample_rate=TARGET_SAMPLE_RATE,
            n_mels=opts["n_mels"],
            win_length=opts["win_length"],
            hop_length=opts["hop_length"],
        )
        if opts["kind"] == "mfcc":
            return MFCC(n_mfcc=opts["n_mfcc"], **common).eval()
        return Fbank(**common).eval()

    def num_frames(self, num_samples):
        """Frames the lobe produces for ``num_samples`` samples (centred STFT)."""
        return 1 + num_samples // self.hop_samples

    def raw(self, signal):
        """Unnormalised features ``(T, F)`` float32 numpy of a 1-D 16 kHz signal."""
        if self._lobe is None:
            self._lobe = self._make_lobe()
        wav = torch.as_tensor(np.asarray(signal, dtype=np.float32)).unsqueeze(0)
        if wav.shape[1] < self.win_samples:  # the STFT's reflect padding needs this
            wav = torch.nn.functional.pad(wav, (0, self.win_samples - wav.shape[1]))
        with torch.no_grad():
            feats = self._lobe(wav)[0]
        return feats.numpy().astype(np.float32, copy=False)

    def set_stats(self, mean, std):
        """Set the global normalisation statistics."""
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)

    def speaker_stats(self, signals):
        """Mean and standard deviation (numpy) of the raw frames of several signals.

        For speaker normalisation at inference: give some audio of one speaker
        (or the query itself: its own statistics) and pass the result to
        :meth:`compute_features`.
        """
        frames = np.concatenate([self.raw(sig) for sig in signals], axis=0).astype(np.float64)
        return frames.mean(0).astype(np.float32), np.maximum(frames.std(0), 1e-5).astype(np.float32)

    def compute_features(self, signal, mean=None, std=None):
        """Normalised features ``(T, F)`` torch float32 of a 1-D 16 kHz signal.

        Uses ``mean``/``std`` when given (e.g. a speaker's statistics from
        :meth:`speaker_stats`), else the stored statistics (see
        :meth:`set_stats` / :meth:`load`: the training set's for
        ``norm="global"``, the average training speaker's for
        ``norm="speaker"``); raises :class:`FeatureError` if there are none or
        the output is not finite.
        """
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        if mean is None:
            if self.mean is None:
                raise FeatureError("no normalisation statistics: call set_stats() or load()")
            mean, std = self.mean, self.std
        feats = (self.raw(signal) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
        if not np.isfinite(feats).all():
            raise FeatureError("non-finite features (NaN/inf) for the given signal")
        return torch.from_numpy(feats)

    def save(self, path):
        """Write options and statistics to ``path`` (JSON), atomically."""
        write_json(
            path,
            {
                "options": self.options,
                "norm": self.norm,
                "mean": None if self.mean is None else self.mean.tolist(),
                "std": None if self.std is None else self.std.tolist(),
            },
        )

    @classmethod
    def load(cls, path):
        """An extractor from a file written by :meth:`save` (errors name the file)."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            return cls(
                mean=data["mean"], std=data["std"], norm=data.get("norm", "global"),
                **data["options"],
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise FeatureError(f"{path}: not a readable feature-extractor file ({err})") from err

    @mark_as_saver
    def _save_checkpoint(self, path):
        self.save(path)

    @mark_as_loader
    def _load_checkpoint(self, path, end_of_epoch=False):
        loaded = FeatureExtractor.load(path)
        if loaded.options != self.options:
            raise FeatureError(
                f"{path}: written with feature options {loaded.options}, but this "
                f"extractor was built with {self.options}"
            )
        self.norm, self.mean, self.std = loaded.norm, loaded.mean, loaded.std


class FeatureStore:
    """All segments' frames of one manifest in memory: one tensor + offsets.

    Arguments
    ---------
    ids : list of str
    offsets : array of int, ``len(ids) + 1``
        Segment ``i`` is ``feats[offsets[i]:offsets[i+1]]``.
    feats : torch.Tensor or array, ``(total_frames, F)``
    skipped : dict, optional
        Reason -> number of segments of the manifest left out.

    Example
    -------
    >>> store = FeatureStore(["a", "b"], [0, 2, 5], torch.arange(10.).view(5, 2))
    >>> store.segment(1).tolist(), store.lengths.tolist()
    ([[4.0, 5.0], [6.0, 7.0], [8.0, 9.0]], [2, 3])
    >>> store.stats()[0].tolist()
    [4.0, 5.0]
    """

    def __init__(self, ids, offsets, feats, skipped=None):
        self.ids = list(ids)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.feats = torch.as_tensor(feats, dtype=torch.float32)
        self.skipped = dict(skipped or {})
        if len(self.offsets) != len(self.ids) + 1 or self.offsets[-1] != len(self.feats):
            raise FeatureError("feature store: offsets do not match ids and frames")
        self.index = {seg_id: i for i, seg_id in enumerate(self.ids)}
        self.lengths = torch.from_numpy(np.diff(self.offsets))
        self.starts = torch.from_numpy(self.offsets[:-1].copy())
        self._starts = self.offsets[:-1].tolist()
        self._stops = self.offsets[1:].tolist()

    def __len__(self):
        return len(self.ids)

    @property
    def dim(self):
        """Feature dimension."""
        return self.feats.shape[1]

    def segment(self, i):
        """Frames ``(T, F)`` of segment number ``i`` (a view, no copy)."""
        return self.feats[self._starts[i] : self._stops[i]]

    def stats(self):
        """Per-dimension mean and standard deviation over all frames (numpy)."""
        feats = self.feats.double()
        mean = feats.mean(0)
        std = feats.std(0, unbiased=False).clamp(min=1e-5)
        return mean.float().numpy(), std.float().numpy()

    def normalise(self, mean, std):
        """Apply ``(x - mean) / std`` to every frame, in place; returns self."""
        self.feats.sub_(torch.as_tensor(mean)).div_(torch.as_tensor(std))
        return self

    def _speaker_index(self, speakers, source):
        """Speaker names and one speaker number per segment (from a id -> speaker map)."""
        missing = [seg_id for seg_id in self.ids if not speakers.get(seg_id)]
        if missing:
            raise FeatureError(
                f"{source}: {len(missing)} segments have no spk_id (first {missing[0]!r}); "
                "per-speaker normalisation needs one per segment (or use feature_norm: global)"
            )
        names = sorted({speakers[seg_id] for seg_id in self.ids})
        number = {name: i for i, name in enumerate(names)}
        return names, torch.tensor([number[speakers[seg_id]] for seg_id in self.ids])

    def speaker_stats(self, speakers, source="features"):
        """Per-speaker mean and standard deviation over that speaker's frames.

        Arguments
        ---------
        speakers : dict
            Segment id -> speaker id (every id of the store must have one).
        source : str
            Named in errors.

        Returns
        -------
        dict speaker -> (mean, std), numpy float32 ``(F,)`` each.

        Example
        -------
        >>> store = FeatureStore(["a", "b"], [0, 2, 4], torch.tensor([[1.], [3.], [10.], [14.]]))
        >>> stats = store.speaker_stats({"a": "s1", "b": "s2"})
        >>> stats["s1"][0].tolist(), stats["s1"][1].tolist(), stats["s2"][1].tolist()
        ([2.0], [1.0], [2.0])
        """
        names, seg_spk = self._speaker_index(speakers, source)
        frame_spk = torch.repeat_interleave(seg_spk, self.lengths)
        feats = self.feats.double()
        count = torch.zeros(len(names), dtype=torch.float64).index_add_(
            0, frame_spk, torch.ones(len(feats), dtype=torch.float64)
        )
        sums = torch.zeros(len(names), self.dim, dtype=torch.float64).index_add_(0, frame_spk, feats)
        mean = sums / count.clamp(min=1).unsqueeze(1)
        sq = torch.zeros_like(sums).index_add_(0, frame_spk, (feats - mean[frame_spk]) ** 2)
        std = (sq / count.clamp(min=1).unsqueeze(1)).sqrt().clamp(min=1e-5)
        return {
            name: (mean[i].float().numpy(), std[i].float().numpy())
            for i, name in enumerate(names)
        }

    def normalise_by_speaker(self, speakers, stats=None, source="features"):
        """Normalise every speaker's frames with that speaker's mean/std, in place.

        Arguments
        ---------
        speakers : dict
            Segment id -> speaker id.
        stats : dict, optional
            Speaker -> (mean, std); computed from this store
            (:meth:`speaker_stats`) when not given. Speakers missing from a
            given ``stats`` raise :class:`FeatureError`.
        source : str
            Named in errors.

        Returns
        -------
        The stats used (dict speaker -> (mean, std)).

        Example
        -------
        >>> store = FeatureStore(["a", "b"], [0, 2, 4], torch.tensor([[1.], [3.], [5.], [9.]]))
        >>> _ = store.normalise_by_speaker({"a": "s1", "b": "s2"})
        >>> store.feats.flatten().tolist()
        [-1.0, 1.0, -1.0, 1.0]
        """
        if stats is None:
            stats = self.speaker_stats(speakers, source)
        names, seg_spk = self._speaker_index(speakers, source)
        absent = [name for name in names if name not in stats]
        if absent:
            raise FeatureError(f"{source}: no normalisation statistics for speaker {absent[0]!r}")
        mean = torch.as_tensor(np.stack([stats[name][0] for name in names]), dtype=torch.float32)
        std = torch.as_tensor(np.stack([stats[name][1] for name in names]), dtype=torch.float32)
        frame_spk = torch.repeat_interleave(seg_spk, self.lengths)
        self.feats.sub_(mean[frame_spk]).div_(std[frame_spk])
        return stats


def average_speaker_stats(stats):
    """Statistics of the "average speaker": mean of the means, RMS of the stds.

    Used as inference statistics for a lone word of an unknown speaker when the
    model was trained with per-speaker normalisation.

    Example
    -------
    >>> m, s = average_speaker_stats({"a": (np.array([0.]), np.array([1.])),
    ...                               "b": (np.array([2.]), np.array([7.]))})
    >>> m.tolist(), s.tolist()
    ([1.0], [5.0])
    """
    if not stats:
        raise FeatureError("no speaker statistics to average")
    means = np.stack([np.asarray(m, np.float64) for m, _ in stats.values()])
    stds = np.stack([np.asarray(s, np.float64) for _, s in stats.values()])
    return means.mean(0).astype(np.float32), np.sqrt((stds**2).mean(0)).astype(np.float32)
