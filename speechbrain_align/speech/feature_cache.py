"""Features of a manifest's word segments, computed once and cached on disk.

For a manifest, every audio file is featurised once on its whole signal
(:func:`utterance_features`, optionally in several processes) and every
segment's frames are sliced from it (:func:`segment_frames`,
:func:`extract_features`). :func:`load_features` stores them as ONE float32
array of all frames (``<stem>.<key>.feats.npy``) plus an index
(``<stem>.<key>.index.npz``: ids, frame offsets, skipped counts). The key
hashes the manifest's bytes and the feature options, so a changed manifest or
option recomputes; both files are written atomically, the index last, so a
half-written cache is never read. Loading gives a
:class:`~speechbrain_align.speech.features.FeatureStore` of unnormalised
features.

Bad input: segments shorter than ``min_frames`` frames are widened to
``min_frames`` frames of their utterance (``short_segments="pad"``), dropped
with a counted warning (``"skip"``) or raise (``"error"``); segments whose
features contain NaN/inf raise :class:`~speechbrain_align.speech.features.FeatureError`
naming the segment and manifest, or are dropped with a counted warning
(``nonfinite="skip"``).
"""

import hashlib
import json
import logging
import os

import numpy as np
import torch

from speechbrain_align.dataio.audio import TARGET_SAMPLE_RATE, AudioError, load_segment
from speechbrain_align.dataio.manifest import read_segment_manifest
from speechbrain_align.speech.features import FeatureError, FeatureExtractor, FeatureStore
from speechbrain_align.utils.errors import DamagedFileError
from speechbrain_align.utils.files import atomic_save, load_array_file

logger = logging.getLogger(__name__)

CACHE_VERSION = 2  # 2: segments sliced from whole-utterance features


def cache_key(manifest, options):
    """Hash of the manifest's bytes and the feature options (hex string)."""
    digest = hashlib.sha1()
    with open(manifest, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps(options, sort_keys=True).encode())
    digest.update(str(CACHE_VERSION).encode())
    return digest.hexdigest()[:16]


def _utterance_raw(job):
    """Worker: raw features of whole audio files ``(options, [wav, ...])``."""
    options, wavs = job
    torch.set_num_threads(1)
    extractor = FeatureExtractor(**options)
    return [(wav, *_raw_with_length(extractor, wav)) for wav in wavs]


def _raw_with_length(extractor, wav):
    audio = load_segment(wav)
    return extractor.raw(audio), len(audio)


def _segment_alone(extractor, wav, first, last, min_samples):
    """Raw features of samples ``[first, last)`` of ``wav`` featurised on their own
    (zero-padded to ``min_samples``): for utterances whose whole-signal features
    are not finite."""
    signal = load_segment(wav)[first:last]
    if len(signal) < min_samples:
        pad = min_samples - len(signal)
        signal = np.pad(signal, (pad // 2, pad - pad // 2))
    return extractor.raw(signal)


def utterance_features(wavs, extractor, workers=1, progress=False):
    """Raw features of every audio file, each computed once on its whole signal.

    Files are shared among ``workers`` processes (one torch thread each).
    Returns ``{wav: (feats (T, F) float32, num_samples)}``.
    """
    wavs = list(dict.fromkeys(wavs))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(wavs), desc="features", unit="file")
    out = {}
    if workers <= 1 or len(wavs) < 2:
        for wav in wavs:
            out[wav] = _raw_with_length(extractor, wav)
            if bar is not None:
                bar.update(1)
    else:
        import multiprocessing

        chunk = max(1, min(32, len(wavs) // (4 * workers)))
        jobs = [(extractor.options, wavs[i : i + chunk]) for i in range(0, len(wavs), chunk)]
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for done in pool.imap_unordered(_utterance_raw, jobs):
                for wav, feats, n in done:
                    out[wav] = (feats, n)
                if bar is not None:
                    bar.update(len(done))
    if bar is not None:
        bar.close()
    return out


def segment_frames(first, last, total, extractor, min_frames, widen):
    """Frame range ``[t0, t1)`` of samples ``[first, last)`` in an utterance of ``total`` frames.

    Frame ``t`` is centred on sample ``t * hop`` (centred STFT), so the
    segment keeps the frame count it would have on its own signal. With
    ``widen``, a segment shorter than ``min_frames`` takes neighbouring frames
    of its utterance, centred on it.

    Example
    -------
    >>> ex = FeatureExtractor()
    >>> segment_frames(1600, 4800, 100, ex, 3, False)
    (10, 31)
    >>> segment_frames(1600, 1680, 100, ex, 5, True)
    (8, 13)
    """
    hop = extractor.hop_samples
    t0 = int(round(first / hop))
    n = extractor.num_frames(last - first)
    if widen and n < min_frames:
        n = min_frames
        t0 = int(round((first + last) / (2 * hop))) - n // 2
    t0 = max(0, min(t0, total - (n if widen else 1)))
    return t0, min(total, t0 + n)


def extract_features(
    rows,
    extractor,
    source="manifest",
    min_frames=3,
    short_segments="pad",
    nonfinite="error",
    progress=False,
    workers=1,
):
    """Compute features of every segment row (dicts from the manifest reader).

    Each audio file is read and featurised ONCE, on its whole signal (in
    ``workers`` processes); segments are slices of its frames (a segment's
    edge frames therefore see its neighbours' samples, as in running
    speech). A segment shorter than ``min_frames`` frames is widened to
    ``min_frames`` frames of its utterance (``short_segments="pad"``),
    dropped with a counted warning (``"skip"``) or raises (``"error"``);
    an empty segment always raises with ``"pad"``. Returns a
    :class:`FeatureStore` of unnormalised features, in manifest order, with
    ``skipped`` counts for segments left out.
    """
    if short_segments not in ("pad", "skip", "error"):
        raise ValueError(f"short_segments must be pad, skip or error, got {short_segments!r}")
    if nonfinite not in ("error", "skip"):
        raise ValueError(f"nonfinite must be error or skip, got {nonfinite!r}")
    min_samples = max(0, (min_frames - 1) * extractor.hop_samples)
    utterances = utterance_features([row["wav"] for row in rows], extractor, workers, progress)
    results = [None] * len(rows)
    skipped = {"short": 0, "nonfinite": 0}
    first_reason = {}
    for i, row in enumerate(rows):
        feats, n_samples = utterances[row["wav"]]
        first = int(round(row["start"] * TARGET_SAMPLE_RATE))
        last = int(round(row["stop"] * TARGET_SAMPLE_RATE))
        if last > n_samples + 1:  # one sample of rounding, as load_segment allows
            raise AudioError(
                f"{source}: segment {row['ID']!r} [{row['start']:.4f}, {row['stop']:.4f}] s "
                f"falls outside {row['wav']} ({n_samples / TARGET_SAMPLE_RATE:.4f} s)"
            )
        last = min(last, n_samples)
        short = last - first < max(1, min_samples)
        if short:
            if short_segments == "error" or (short_segments == "pad" and last <= first):
                raise FeatureError(
                    f"{source}: segment {row['ID']!r} has {max(0, last - first)} samples, "
                    f"fewer than {min_frames} frames (short_segments={short_segments!r})"
                )
            if short_segments == "skip":
                skipped["short"] += 1
                first_reason.setdefault("short", row["ID"])
                continue
        if np.isfinite(feats).all():
            t0, t1 = segment_frames(first, last, len(feats), extractor, min_frames, short)
            seg = feats[t0:t1]
        else:  # a bad sample spoils its whole utterance (log-Mel top_db): featurise alone
            seg = _segment_alone(extractor, row["wav"], first, last, min_samples)
        if not np.isfinite(seg).all():
            if nonfinite == "error":
                raise FeatureError(
                    f"{source}: segment {row['ID']!r} ({row['wav']}) has non-finite "
                    "features (NaN/inf); fix the audio or use nonfinite='skip'"
                )
            skipped["nonfinite"] += 1
            first_reason.setdefault("nonfinite", row["ID"])
            continue
        results[i] = seg
    for reason, count in skipped.items():
        if count:
            logger.warning(
                "%s: skipped %d of %d segments (%s), first %r",
                source, count, len(rows), reason, first_reason[reason],
            )
    kept = [i for i, feats in enumerate(results) if feats is not None]
    if not kept:
        raise FeatureError(f"{source}: no segment has usable features")
    lengths = [len(results[i]) for i in kept]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    feats = np.ascontiguousarray(np.concatenate([results[i] for i in kept], axis=0))
    return FeatureStore([rows[i]["ID"] for i in kept], offsets, feats, skipped)


def load_features(
    manifest,
    cache_dir,
    extractor,
    min_frames=3,
    short_segments="pad",
    nonfinite="error",
    rows=None,
    progress=True,
    workers=1,
):
    """Features of a manifest's segments, from the cache or computed and cached.

    Arguments
    ---------
    manifest : str
        Segment manifest (CSV).
    cache_dir : str
        Folder for ``<stem>.<key>.feats.npy`` and ``<stem>.<key>.index.npz``.
    extractor : FeatureExtractor
    min_frames, short_segments, nonfinite
        See :func:`extract_features`; part of the cache key.
    rows : list of dict, optional
        The manifest already read (avoids reading it twice).
    workers : int
        Processes that compute features (not part of the cache key).

    Returns
    -------
    :class:`FeatureStore` of unnormalised features (call
    :meth:`FeatureStore.normalise` with the training statistics).
    """
    options = dict(
        extractor.options,
        min_frames=min_frames,
        short_segments=short_segments,
        nonfinite=nonfinite,
    )
    key = cache_key(manifest, options)
    stem = os.path.splitext(os.path.basename(os.fspath(manifest)))[0]
    base = os.path.join(cache_dir, f"{stem}.{key}")
    feats_path, index_path = base + ".feats.npy", base + ".index.npz"
    if os.path.exists(index_path) and os.path.exists(feats_path):
        try:
            index = load_array_file(index_path, "feature cache index")
            ids, offsets = index["ids"].tolist(), index["offsets"]
            skipped = json.loads(str(index["skipped"]))
            feats = load_array_file(feats_path, "feature cache")
            logger.info("%s: features from cache %s", manifest, feats_path)
            return FeatureStore(ids, offsets, torch.from_numpy(feats), skipped)
        except (DamagedFileError, KeyError, ValueError, TypeError) as err:
            logger.warning("%s: unusable feature cache (%s); recomputing", base, err)
    if rows is None:
        rows = read_segment_manifest(manifest)
    store = extract_features(
        rows, extractor, os.fspath(manifest), min_frames, short_segments, nonfinite, progress,
        workers,
    )
    os.makedirs(cache_dir, exist_ok=True)
    atomic_save(feats_path, lambda p: np.save(p, store.feats.numpy()))
    atomic_save(
        index_path,
        lambda p: np.savez(
            p,
            ids=np.asarray(store.ids).astype(str),
            offsets=store.offsets,
            skipped=np.asarray(json.dumps(store.skipped)),
            options=np.asarray(json.dumps(options, sort_keys=True)),
        ),
    )
    return store
