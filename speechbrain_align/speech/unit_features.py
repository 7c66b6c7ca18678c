"""One fixed-size acoustic vector per word segment, for the unit skip-gram.

* :func:`segment_logmel_features` -- the resized log-Mel image of every
  segment, computed in parallel and cached as ``.npy``;
* :func:`load_segment_vectors` -- the vectors of a segment-vector file whose
  "words" are segment IDs (for example Speech2Vec encoder outputs).
"""

import logging

import numpy as np

from speechbrain_align.dataio.manifest import ManifestError
from speechbrain_align.dataio.vectors import load_embeddings
from speechbrain_align.utils.files import already_prepared, atomic_save, mark_prepared

logger = logging.getLogger(__name__)


def _logmel_chunk(args):
    """Worker: log-Mel images of a list of ``(wav, start, stop)``, one
    spectrogram per audio file (:func:`logmel_images_in_utterance`)."""
    items, image_kwargs = args
    import torch

    from speechbrain_align.dataio.audio import TARGET_SAMPLE_RATE, load_segment
    from speechbrain_align.speech.acoustic_image import logmel_images_in_utterance

    torch.set_num_threads(1)
    out = np.empty((len(items), image_kwargs.get("size", 32) ** 2), dtype=np.float32)
    by_wav = {}
    for i, (wav, start, stop) in enumerate(items):
        by_wav.setdefault(wav, []).append(i)
    for wav, indices in by_wav.items():
        spans = [(int(round(items[i][1] * TARGET_SAMPLE_RATE)),
                  int(round(items[i][2] * TARGET_SAMPLE_RATE))) for i in indices]
        out[indices] = logmel_images_in_utterance(load_segment(wav), spans, **image_kwargs)
    return out


def segment_logmel_features(
    rows, cache_path=None, workers=2, chunk_size=512, progress=True, **image_kwargs
):
    """One resized log-Mel image per manifest row, computed once and cached.

    Arguments
    ---------
    rows : list of dict
        Manifest rows (``ID``, ``wav``, ``start``, ``stop``).
    cache_path : str, optional
        ``.npy`` file holding the ``(len(rows), size*size)`` matrix. It is
        reused when it was made from the same rows (IDs, files, times, and
        the files' sizes and dates) and image options, recomputed otherwise
        (also when damaged); written atomically.
    workers : int
        Worker processes (spawned, one torch thread each); ``<= 1`` computes
        in this process.
    chunk_size : int
        Segments per task sent to a worker.
    progress : bool
        Show a tqdm bar.
    **image_kwargs
        Passed to :func:`~speechbrain_align.speech.acoustic_image.logmel_image`.

    Returns
    -------
    numpy.ndarray, float32, one row per manifest row (same order).
    """
    from speechbrain_align.dataio.audio import segments_fingerprint
    from speechbrain_align.utils.errors import DamagedFileError
    from speechbrain_align.utils.files import load_array_file

    options = {"rows": segments_fingerprint(rows), "n": len(rows), "image": image_kwargs}
    if cache_path is not None and already_prepared([cache_path], options):
        try:
            feats = load_array_file(cache_path, "log-Mel image cache")
            logger.info("Reusing log-Mel images from %s", cache_path)
            return feats
        except DamagedFileError as err:
            logger.warning("%s; recomputing", err)
    from tqdm import tqdm

    items = [(row["wav"], row["start"], row["stop"]) for row in rows]
    chunks = [
        (items[i : i + chunk_size], image_kwargs) for i in range(0, len(items), chunk_size)
    ]
    parts = []
    bar = tqdm(total=len(items), desc="log-Mel images", disable=not progress)
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            parts.append(_logmel_chunk(chunk))
            bar.update(len(chunk[0]))
    else:
        import concurrent.futures
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            for chunk, part in zip(chunks, pool.map(_logmel_chunk, chunks)):
                parts.append(part)
                bar.update(len(chunk[0]))
    bar.close()
    if not parts:
        raise ManifestError("segment_logmel_features: no rows given")
    feats = np.concatenate(parts).astype(np.float32)
    if cache_path is not None:
        atomic_save(cache_path, lambda p: np.save(p, feats))
        mark_prepared([cache_path], options)
    return feats


def load_segment_vectors(path, rows, on_missing="error"):
    """Vectors of manifest rows from a vector file whose words are segment IDs.

    Arguments
    ---------
    path : str
        ``.vec`` or ``.npz`` (read with
        :func:`~speechbrain_align.dataio.vectors.load_embeddings`).
    rows : list of dict
        Manifest rows; their ``ID`` is looked up.
    on_missing : "error" or "skip"
        A row without a vector raises, or is dropped with a counted warning.

    Returns
    -------
    (kept_rows, features) : the rows that have a vector and their matrix.

    Example
    -------
    >>> import tempfile, os
    >>> from speechbrain_align.dataio.vectors import Embeddings, write_vec
    >>> p = os.path.join(tempfile.mkdtemp(), "seg.vec")
    >>> write_vec(Embeddings(["a_0000", "a_0001"], [[1, 0], [0, 1]]), p)
    >>> kept, x = load_segment_vectors(p, [{"ID": "a_0001"}, {"ID": "a_0000"}])
    >>> x.tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    emb = load_embeddings(path)
    kept, index = [], []
    missing = []
    for row in rows:
        i = emb.index.get(row["ID"])
        if i is None:
            missing.append(row["ID"])
            continue
        kept.append(row)
        index.append(i)
    if missing:
        if on_missing == "error":
            raise ManifestError(
                f"{path}: no vector for {len(missing)} of {len(rows)} segments, "
                f"e.g. {missing[0]!r}"
            )
        logger.warning("%s: %d of %d segments have no vector, skipped", path, len(missing), len(rows))
    if not kept:
        raise ManifestError(f"{path}: none of the manifest's segment IDs has a vector")
    return kept, emb.vectors[np.asarray(index, dtype=np.int64)]
