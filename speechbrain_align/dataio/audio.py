"""Audio access for word segments: checks, loading and resampling to 16 kHz."""

import functools
import hashlib
import json
import logging
import os

import numpy as np
import soundfile

from speechbrain_align.dataio.manifest import ManifestError

logger = logging.getLogger(__name__)

TARGET_SAMPLE_RATE = 16000
_warned_rates = set()


class AudioError(ManifestError):
    """An audio file is missing, unreadable, or does not cover a segment."""


def audio_info(path):
    """Return ``(sample_rate, num_frames)`` of an audio file.

    Cached by path, size and modification time, so a file rewritten in place
    is read afresh. Raises :class:`AudioError` naming the file when it is
    missing or unreadable, or when its last sample cannot be decoded (a
    truncated FLAC whose header still promises the full length).
    """
    try:
        stat = os.stat(path)
    except OSError:
        raise AudioError(f"{path}: audio file not found") from None
    if not os.path.isfile(path):
        raise AudioError(f"{path}: not a regular file")
    return _audio_info(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=65536)
def _audio_info(path, size, mtime_ns):
    """Cached worker of :func:`audio_info`."""
    try:
        info = soundfile.info(path)
    except Exception as err:  # soundfile raises several types
        raise AudioError(f"{path}: unreadable audio ({err})") from err
    if info.frames > 0:
        try:
            tail, _ = soundfile.read(path, start=info.frames - 1, stop=info.frames)
        except Exception as err:  # noqa: BLE001 - libsndfile errors of a damaged file
            tail, reason = (), str(err)
        else:
            reason = f"{len(tail)} samples read"
        if len(tail) != 1:
            raise AudioError(
                f"{path}: truncated or damaged audio: the header promises {info.frames} "
                f"samples ({info.frames / info.samplerate:.3f} s) but the last one cannot be "
                f"decoded ({reason})"
            )
    return info.samplerate, info.frames


audio_info.cache_clear = _audio_info.cache_clear


def _warn_rate_once(path, rate):
    if rate not in _warned_rates:
        _warned_rates.add(rate)
        logger.warning(
            "%s: sample rate %d Hz, resampling to %d Hz (said once per rate)",
            path,
            rate,
            TARGET_SAMPLE_RATE,
        )


def load_segment(path, start=None, stop=None, sample_rate=TARGET_SAMPLE_RATE):
    """Load ``[start, stop)`` seconds of a mono file as float32 at ``sample_rate``.

    Files at another rate are resampled (with a single warning per rate).
    Multichannel audio is averaged to mono.

    Example
    -------
    >>> import tempfile, os, soundfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "x.wav")
    >>> soundfile.write(path, np.zeros(8000, dtype="float32"), 8000)
    >>> load_segment(path, 0.25, 0.75).shape  # 0.5 s at 16 kHz
    (8000,)
    """
    rate, frames = audio_info(path)
    first = 0 if start is None else int(round(start * rate))
    last = frames if stop is None else int(round(stop * rate))
    if first < 0 or last > frames + 1 or last <= first:
        raise AudioError(
            f"{path}: segment [{start}, {stop}] s falls outside the audio "
            f"({frames / rate:.3f} s) or is empty"
        )
    stop_frame = min(last, frames)
    try:
        data, _ = soundfile.read(path, start=first, stop=stop_frame, dtype="float32")
    except Exception as err:  # noqa: BLE001 - libsndfile errors of a damaged file
        raise AudioError(
            f"{path}: cannot decode samples {first}-{stop_frame} of {frames} ({err}); "
            "the file is truncated or damaged"
        ) from err
    if len(data) != stop_frame - first:
        raise AudioError(
            f"{path}: truncated audio: {len(data)} of the {stop_frame - first} samples "
            f"from {first / rate:.3f} s could be read"
        )
    if data.ndim > 1:
        data = data.mean(axis=1)
    if rate != sample_rate:
        _warn_rate_once(path, rate)
        data = resample(data, rate, sample_rate)
    return np.ascontiguousarray(data, dtype=np.float32)


def resample(signal, orig_rate, new_rate):
    """Resample a 1-D float signal with torchaudio's band-limited sinc filter."""
    import torch
    import torchaudio.functional as AF

    tensor = torch.from_numpy(np.asarray(signal, dtype=np.float32))
    return AF.resample(tensor, orig_rate, new_rate).numpy()


def check_segments_audio(segments, source, on_error="raise", tolerance=0.0):
    """Check every segment's audio exists, is readable and covers its times.

    Arguments
    ---------
    segments : list of Segment
    source : str
        Name of the manifest or alignment file, used in messages.
    on_error : "raise" or "skip"
        Raise :class:`AudioError` on the first bad segment, or drop bad
        segments and log one counted warning.
    tolerance : float
        Seconds a segment may end after the audio, beyond one sample (the
        rounding of the times in the source format).

    Returns
    -------
    The segments that passed, in order.
    """
    kept, bad = [], []
    for seg in segments:
        try:
            rate, frames = audio_info(seg.wav)
            if rate != TARGET_SAMPLE_RATE:
                _warn_rate_once(seg.wav, rate)
            length = frames / rate
            # Allow one frame of rounding at the end, plus the format's rounding.
            if seg.stop > length + 1.0 / rate + tolerance or seg.start < 0:
                raise AudioError(
                    f"{source}: segment {seg.ID!r} [{seg.start:.4f}, {seg.stop:.4f}] s "
                    f"falls outside {seg.wav} ({frames} samples = {length:.5f} s)"
                )
        except AudioError as err:
            if on_error == "raise":
                raise AudioError(f"{source}: {err}") from err
            bad.append((seg.ID, str(err)))
            continue
        kept.append(seg)
    if bad:
        logger.warning(
            "%s: skipped %d of %d segments with bad audio; first: %s",
            source,
            len(bad),
            len(segments),
            bad[0][1],
        )
    return kept


def segments_fingerprint(rows):
    """A hash of the segments' audio: ids, files, times, and each file's size and date.

    Keys caches of anything computed from the audio (a changed manifest, or
    an audio file rewritten, gives another key). Raises :class:`AudioError`
    naming a missing file.

    Example
    -------
    >>> import tempfile, os, soundfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "x.wav")
    >>> soundfile.write(path, np.zeros(800, dtype="float32"), 16000)
    >>> rows = [{"ID": "a", "wav": path, "start": 0.0, "stop": 0.05}]
    >>> key = segments_fingerprint(rows)
    >>> key == segments_fingerprint([dict(rows[0], stop=0.04)])
    False
    """
    digest = hashlib.sha1()
    stats = {}
    for row in rows:
        wav = row["wav"]
        if wav not in stats:
            try:
                stat = os.stat(wav)
            except OSError:
                raise AudioError(f"{wav}: audio file not found (segment {row['ID']!r})") from None
            stats[wav] = [stat.st_size, stat.st_mtime_ns]
        item = [row["ID"], wav, float(row["start"]), float(row["stop"])] + stats[wav]
        digest.update(json.dumps(item).encode("utf-8"))
    return digest.hexdigest()
