"""Speaker-normalised segment vectors: per-speaker VTLN warps, CMVN, fixed-size resampling.

Voices differ most in vocal-tract length (espeak-ng's ``+f3`` and ``+m3``
variants scale the formants), which moves the spectral envelope along the
frequency axis. Vocal-tract length normalisation (VTLN) warps the Mel filter
bank of each speaker by a factor ``alpha`` (piecewise linear, :func:`warp_frequencies`)
so that all speakers' spectra line up. The warps are chosen without any
label (:func:`estimate_warps`): speaker by speaker, the factor whose segment
vectors lie closest to the other speakers' segments (mean cosine of each
segment's nearest neighbour among the others), sweeping the speakers a few
times, as in coordinate ascent.

:func:`segment_vectors` then computes the warped MFCC (+ deltas) of each audio
file once, normalises every speaker's frames by that speaker's mean and
standard deviation (CMVN), resamples each word segment to ``n_frames`` frames
(linear interpolation, :func:`resample_spans`) and appends the log duration:
the fixed-size acoustic vector every acoustic word embedding here starts from.
"""

import logging
import multiprocessing

import numpy as np
import torch

from speechbrain_align.dataio.audio import TARGET_SAMPLE_RATE, load_segment
from speechbrain_align.retrieval.search import knn, normalize_rows

logger = logging.getLogger(__name__)

DEFAULT_GRID = tuple(np.round(np.arange(0.80, 1.3001, 0.025), 3).tolist())


def warp_frequencies(freqs, alpha, nyquist=TARGET_SAMPLE_RATE / 2, cutoff=0.8):
    """Piecewise-linear VTLN warp: ``alpha * f`` up to a knee, then linear to Nyquist.

    Example
    -------
    >>> warp_frequencies(np.array([0.0, 1000.0, 8000.0]), 1.1).round(1).tolist()
    [0.0, 1100.0, 8000.0]
    """
    knee = cutoff * nyquist / max(1.0, alpha)
    freqs = np.asarray(freqs, dtype=np.float64)
    upper = alpha * knee + (nyquist - alpha * knee) * (freqs - knee) / (nyquist - knee)
    return np.where(freqs <= knee, alpha * freqs, upper)


def warped_mel_matrix(alpha, n_mels=40, n_fft=400, sample_rate=TARGET_SAMPLE_RATE):
    """Triangular Mel filters ``(n_fft // 2 + 1, n_mels)`` with edges warped by ``alpha``.

    Example
    -------
    >>> m = warped_mel_matrix(1.0, n_mels=4, n_fft=16)
    >>> m.shape, bool((m >= 0).all())
    ((9, 4), True)
    """
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    edges_mel = np.linspace(0.0, mel(sample_rate / 2), n_mels + 2)
    edges = warp_frequencies(700.0 * (10 ** (edges_mel / 2595.0) - 1.0), alpha, sample_rate / 2)
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - left) / np.maximum(centre - left, 1e-3)
    down = (right - freqs[None]) / np.maximum(right - centre, 1e-3)
    return np.maximum(0.0, np.minimum(up, down)).T.astype(np.float32)


class WarpedMFCC:
    """MFCC (+ deltas) of a 16 kHz signal with a VTLN-warped Mel filter bank.

    Arguments
    ---------
    n_mfcc, n_mels : int
    deltas : bool
        Append first and second derivatives (x3 dimension).
    win_length, hop_length : float
        Milliseconds.
    top_db : float
        Log-Mel floor below each signal's maximum.

    Example
    -------
    >>> mfcc = WarpedMFCC()
    >>> sig = np.random.RandomState(0).randn(3200).astype("float32")
    >>> mfcc(sig, alpha=1.1).shape, mfcc.dim
    ((21, 39), 39)
    """

    def __init__(self, n_mfcc=13, n_mels=40, deltas=True, win_length=25, hop_length=10, top_db=80.0):
        from speechbrain.processing.features import DCT, STFT, Deltas

        self.n_mfcc, self.n_mels, self.deltas, self.top_db = int(n_mfcc), int(n_mels), bool(deltas), top_db
        self.n_fft = 400
        self.hop_length = float(hop_length)
        self._stft = STFT(sample_rate=TARGET_SAMPLE_RATE, win_length=win_length,
                          hop_length=hop_length, n_fft=self.n_fft)
        self._dct = DCT(input_size=self.n_mels, n_out=self.n_mfcc)
        self._deltas = Deltas(input_size=self.n_mfcc)
        self._mel = {}

    @property
    def dim(self):
        """Frame dimension."""
        return self.n_mfcc * (3 if self.deltas else 1)

    @property
    def frames_per_second(self):
        """Frame rate (1000 / hop in ms)."""
        return 1000.0 / self.hop_length

    def power(self, signal):
        """Power spectrogram ``(T, n_fft // 2 + 1)`` (torch) of a 1-D signal."""
        from speechbrain.processing.features import spectral_magnitude

        wav = torch.as_tensor(np.asarray(signal, dtype=np.float32))[None]
        if wav.shape[1] < self.n_fft:
            wav = torch.nn.functional.pad(wav, (0, self.n_fft - wav.shape[1]))
        with torch.no_grad():
            return spectral_magnitude(self._stft(wav), power=1)[0]

    def cepstra(self, power, alpha=1.0, deltas=None):
        """MFCC frames ``(T, dim)`` (numpy) of a power spectrogram with warp ``alpha``."""
        key = round(float(alpha), 6)
        if key not in self._mel:
            self._mel[key] = torch.from_numpy(warped_mel_matrix(key, self.n_mels, self.n_fft))
        with torch.no_grad():
            logmel = 10.0 * torch.log10(torch.clamp(power @ self._mel[key], min=1e-10))
            logmel = torch.maximum(logmel, logmel.max() - self.top_db)
            feats = self._dct(logmel[None])
            if self.deltas if deltas is None else deltas:
                d1 = self._deltas(feats)
                feats = torch.cat([feats, d1, self._deltas(d1)], dim=-1)
        return feats[0].numpy()

    def __call__(self, signal, alpha=1.0):
        return self.cepstra(self.power(signal), alpha)


def segment_spans(rows, n_total, frames_per_second=100.0):
    """Frame spans ``[lo, hi)`` of segments (times relative to their audio file).

    Every span has at least one frame and lies within ``n_total`` frames.

    Example
    -------
    >>> segment_spans([{"start": 0.0, "stop": 0.25}, {"start": 0.25, "stop": 0.251}], 30).tolist()
    [[0, 25], [25, 26]]
    """
    lo = np.array([int(round(r["start"] * frames_per_second)) for r in rows], dtype=np.int64)
    hi = np.array([int(round(r["stop"] * frames_per_second)) for r in rows], dtype=np.int64)
    lo = np.clip(lo, 0, max(n_total - 1, 0))
    hi = np.clip(np.maximum(hi, lo + 1), 1, n_total)
    return np.stack([lo, hi], axis=1)


def resample_spans(frames, spans, n_frames=10):
    """Each span of ``frames`` linearly resampled to ``n_frames`` frames, flattened.

    Example
    -------
    >>> f = np.arange(6, dtype="float32")[:, None]
    >>> resample_spans(f, np.array([[0, 6], [2, 3]]), n_frames=3).tolist()
    [[0.5, 2.5, 4.5], [2.0, 2.0, 2.0]]
    """
    spans = np.asarray(spans, dtype=np.int64)
    lo, hi = spans[:, :1].astype(np.float64), spans[:, 1:].astype(np.float64)
    pos = lo + (np.arange(n_frames)[None] + 0.5) / n_frames * (hi - lo) - 0.5
    pos = np.clip(pos, lo, hi - 1)
    first = np.floor(pos).astype(np.int64)
    second = np.minimum(first + 1, spans[:, 1:] - 1)
    weight = (pos - first)[..., None].astype(np.float32)
    out = frames[first] * (1 - weight) + frames[second] * weight
    return out.reshape(len(spans), -1).astype(np.float32)


def _by_file(rows):
    files = {}
    for i, row in enumerate(rows):
        files.setdefault(row["wav"], []).append(i)
    return files


def _warp_samples(rows, mfcc, per_speaker, seed):
    """Power spectrograms and segment spans of a few files per speaker."""
    rng = np.random.default_rng(seed)
    by_speaker = {}
    for wav, idx in _by_file(rows).items():
        by_speaker.setdefault(rows[idx[0]]["spk_id"], []).append((wav, idx))
    samples = {}
    for spk, files in sorted(by_speaker.items()):
        pick = rng.permutation(len(files))[:per_speaker]
        powers, spans, offset = [], [], 0
        for j in sorted(pick):
            wav, idx = files[j]
            power = mfcc.power(load_segment(wav))
            spans.append(segment_spans([rows[i] for i in idx], len(power), mfcc.frames_per_second) + offset)
            powers.append(power)
            offset += len(power)
        samples[spk] = (torch.cat(powers), np.concatenate(spans))
    return samples


def _sample_vectors(mfcc, sample, alpha, n_frames):
    power, spans = sample
    frames = mfcc.cepstra(power, alpha, deltas=False)
    frames = (frames - frames.mean(0)) / (frames.std(0) + 1e-5)
    return normalize_rows(resample_spans(frames, spans, n_frames))


def estimate_warps(rows, mfcc=None, grid=DEFAULT_GRID, files_per_speaker=15, sweeps=2,
                   n_frames=10, seed=0):
    """One VTLN warp factor per speaker, chosen without labels.

    Speakers are visited in a random order, ``sweeps`` times; each takes the
    factor of ``grid`` that maximises the mean cosine between its segment
    vectors (warped MFCC, speaker CMVN, resampled to ``n_frames``) and their
    nearest neighbour among the other speakers' current vectors. Uses
    ``files_per_speaker`` audio files of each speaker.

    Returns ``(warps, history)``: ``{spk_id: alpha}`` and the criterion per
    sweep. One speaker alone keeps ``alpha = 1``.
    """
    mfcc = mfcc or WarpedMFCC(deltas=False)
    samples = _warp_samples(rows, mfcc, files_per_speaker, seed)
    warps = {spk: 1.0 for spk in samples}
    if len(samples) < 2:
        return warps, []
    current = {spk: _sample_vectors(mfcc, s, 1.0, n_frames) for spk, s in samples.items()}
    rng = np.random.default_rng(seed)
    history = []
    speakers = sorted(samples)
    for sweep in range(int(sweeps)):
        changed, total = 0, 0.0
        for spk in rng.permutation(speakers):
            pool = np.concatenate([current[o] for o in speakers if o != spk])
            best = None
            for alpha in grid:
                vecs = _sample_vectors(mfcc, samples[spk], alpha, n_frames)
                score = float(knn(vecs, pool, 1)[0].mean())
                if best is None or score > best[0]:
                    best = (score, float(alpha), vecs)
            changed += best[1] != warps[spk]
            warps[spk], current[spk] = best[1], best[2]
            total += best[0]
        history.append({"sweep": sweep, "changed": int(changed), "criterion": total / len(speakers)})
        logger.info("VTLN sweep %d: %d warps changed, criterion %.4f", sweep, changed, total / len(speakers))
        if not changed:
            break
    return {str(k): v for k, v in warps.items()}, history


def _file_vectors(task):
    """Worker: resampled raw vectors and frame sums of one chunk of files, per warp."""
    files, options, warps = task
    torch.set_num_threads(1)
    mfcc = WarpedMFCC(**options["mfcc"])
    out = []
    for wav, rows_idx, rows in files:
        power = mfcc.power(load_segment(wav))
        spk = rows[0]["spk_id"]
        spans = segment_spans(rows, len(power), mfcc.frames_per_second)
        per_warp = []
        for alpha in (warps.get(spk, 1.0), 1.0)[: 1 + options["unwarped"]]:
            frames = mfcc.cepstra(power, alpha)
            f64 = frames.astype(np.float64)
            per_warp.append((resample_spans(frames, spans, options["n_frames"]),
                             f64.sum(0), (f64 ** 2).sum(0)))
        out.append((rows_idx, spans[:, 1] - spans[:, 0], spk, len(power), per_warp))
    return out


def _normalise(vecs, spk_of, stats, n_frames):
    for spk, (n, s1, s2) in stats.items():
        mean = s1 / n
        std = np.sqrt(np.maximum(s2 / n - mean ** 2, 0)) + 1e-5
        sel = spk_of == spk
        vecs[sel, :-1] = (vecs[sel, :-1] - np.tile(mean, n_frames)) / np.tile(std, n_frames)
    return vecs


def segment_vectors(rows, warps=None, n_frames=10, mfcc_options=None, workers=1, chunk_files=64,
                    unwarped=False):
    """Fixed-size vector of every segment: warped MFCC, speaker CMVN, resampled, log duration.

    Arguments
    ---------
    rows : list of dict
        Manifest rows (``wav``, ``start``, ``stop``, ``spk_id``).
    warps : dict, optional
        Speaker -> VTLN factor (default 1 for all).
    n_frames : int
        Frames per segment after resampling.
    mfcc_options : dict, optional
        :class:`WarpedMFCC` keywords.
    workers : int
        Processes (each file's spectrogram is computed once).
    unwarped : bool
        Also return the vectors without warping (the baseline), from the
        same spectrograms.

    Returns
    -------
    array ``(len(rows), n_frames * dim + 1)`` (or a pair of them with
    ``unwarped``): frames normalised by their speaker's mean and standard
    deviation (over all the speaker's frames), frame-major, then the log of
    the segment's frame count.
    """
    options = {"mfcc": dict(mfcc_options or {}), "n_frames": int(n_frames), "unwarped": bool(unwarped)}
    files = [(wav, idx, [rows[i] for i in idx]) for wav, idx in _by_file(rows).items()]
    tasks = [(files[i:i + chunk_files], options, dict(warps or {}))
             for i in range(0, len(files), chunk_files)]
    if workers > 1 and len(tasks) > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = pool.map(_file_vectors, tasks)
    else:
        results = [_file_vectors(t) for t in tasks]
    dim = WarpedMFCC(**options["mfcc"]).dim
    n_out = 1 + int(unwarped)
    vecs = [np.zeros((len(rows), n_frames * dim + 1), dtype=np.float32) for _ in range(n_out)]
    stats = [{} for _ in range(n_out)]
    for chunk in results:
        for idx, length, spk, n, per_warp in chunk:
            for v, st, (resampled, s1, s2) in zip(vecs, stats, per_warp):
                v[idx, :-1] = resampled
                v[idx, -1] = np.log(length)
                acc = st.setdefault(spk, [0, 0.0, 0.0])
                acc[0] += n
                acc[1] = acc[1] + s1
                acc[2] = acc[2] + s2
    spk_of = np.array([r["spk_id"] for r in rows])
    vecs = [_normalise(v, spk_of, st, n_frames) for v, st in zip(vecs, stats)]
    return tuple(vecs) if unwarped else vecs[0]
