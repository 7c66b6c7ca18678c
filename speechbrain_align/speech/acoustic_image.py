"""Fixed-size acoustic vectors for a word segment: the resized log-Mel image.

A segment's log-Mel spectrogram (128 bands by default) is resized to a
``size x size`` image and flattened (32 x 32 = 1,024 features). It feeds the
small supervised MLP baseline and the k-means of the unit skip-gram.
"""

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio

_MEL_CACHE = {}


def _mel(sample_rate, n_mels, n_fft, win, hop):
    key = (sample_rate, n_mels, n_fft, win, hop)
    if key not in _MEL_CACHE:
        _MEL_CACHE[key] = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, win_length=win, hop_length=hop, n_mels=n_mels
        )
    return _MEL_CACHE[key]


def logmel_image(signal, sample_rate=16000, n_mels=128, size=32, n_fft=1024, win=400, hop=160):
    """Log-Mel spectrogram of ``signal`` resized (bilinear) to ``size x size``, flattened.

    25 ms windows (``win``) every 10 ms, zero-padded to ``n_fft`` points so
    that all 128 Mel filters get frequency bins (with 400 points the lowest
    filters would be empty). Segments shorter than half an FFT are
    zero-padded. The image is mean/variance
    normalised so that loudness does not dominate distances.

    Example
    -------
    >>> img = logmel_image(np.random.default_rng(0).normal(size=4000).astype("float32"))
    >>> img.shape, img.dtype
    ((1024,), dtype('float32'))
    """
    wav = torch.as_tensor(np.asarray(signal, dtype=np.float32))
    if wav.numel() <= n_fft // 2:  # the STFT's reflect padding needs more
        wav = F.pad(wav, (0, n_fft // 2 + 1 - wav.numel()))
    with torch.no_grad():
        spec = _mel(sample_rate, n_mels, n_fft, win, hop)(wav)  # (n_mels, frames)
        spec = torch.log(spec + 1e-6)
        img = F.interpolate(
            spec[None, None], size=(size, size), mode="bilinear", align_corners=False
        )[0, 0]
        img = (img - img.mean()) / (img.std() + 1e-5)
    return img.reshape(-1).numpy().astype(np.float32)


def logmel_images_in_utterance(signal, spans, sample_rate=16000, n_mels=128, size=32,
                               n_fft=1024, win=400, hop=160):
    """:func:`logmel_image` of several segments of one signal, its spectrogram computed once.

    ``spans`` are ``(first, last)`` sample ranges; a segment's image resizes
    the frames centred inside it (at least one), so its edge frames see the
    neighbouring samples as in running speech. Returns ``(len(spans), size*size)``.

    Example
    -------
    >>> sig = np.random.default_rng(0).normal(size=16000).astype("float32")
    >>> logmel_images_in_utterance(sig, [(0, 4000), (8000, 8100)]).shape
    (2, 1024)
    """
    wav = torch.as_tensor(np.asarray(signal, dtype=np.float32))
    if wav.numel() <= n_fft // 2:
        wav = F.pad(wav, (0, n_fft // 2 + 1 - wav.numel()))
    with torch.no_grad():
        spec = torch.log(_mel(sample_rate, n_mels, n_fft, win, hop)(wav) + 1e-6)
        out = np.empty((len(spans), size * size), dtype=np.float32)
        n_frames = spec.shape[1]
        for i, (first, last) in enumerate(spans):
            t0 = min(int(round(first / hop)), n_frames - 1)
            t1 = max(t0 + 1, min(n_frames, t0 + 1 + (last - first) // hop))
            img = F.interpolate(spec[None, None, :, t0:t1], size=(size, size), mode="bilinear",
                                align_corners=False)[0, 0]
            out[i] = ((img - img.mean()) / (img.std() + 1e-5)).reshape(-1).numpy()
    return out

