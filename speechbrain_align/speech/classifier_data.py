"""Data side of the supervised word classifiers: classes, datasets, batching.

* :func:`select_classes` / :func:`split_report`: the class set (train words
  with enough tokens) and the kept/dropped token counts of each split;
* :func:`dataio_prepare`: one ``DynamicItemDataset`` per split for each
  ``input_type`` of :class:`~speechbrain_align.speech.classifier_brain.ClassifierBrain`:

  - ``frames``: cached Fbank/MFCC frames (:func:`frame_stores`), batched by
    :class:`FrameCollate` (one gather from memory);
  - ``image``: the cached 1,024-feature log-Mel image (:func:`cache_images`);
  - ``waveform``: the segment's 16 kHz samples (``sig``, read once and kept
    in memory), batched by SpeechBrain's ``PaddedBatch``; features and
    augmentation are computed in the Brain, on the batch;

* :class:`BucketBatchSampler`: shuffled batches of similar durations.
"""

import collections
import logging
import os

import numpy as np
import torch
import speechbrain as sb
from speechbrain.dataio.dataset import DynamicItemDataset

from speechbrain_align.dataio.audio import load_segment, segments_fingerprint
from speechbrain_align.dataio.manifest import ManifestError, read_segment_manifest
from speechbrain_align.speech.acoustic_image import logmel_image
from speechbrain_align.utils.errors import DamagedFileError
from speechbrain_align.utils.files import atomic_save, load_array_file

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
INPUT_TYPES = ("frames", "image", "waveform")

def select_classes(train_rows, min_train_tokens=1, max_classes=None):
    """The word classes: train words with ``>= min_train_tokens`` tokens.

    Arguments
    ---------
    train_rows : list of dict
        Train manifest rows (with a ``word`` key); empty words are ignored.
    min_train_tokens : int
        Minimum number of train tokens for a word to be a class.
    max_classes : int, optional
        Keep only the most frequent words (ties broken alphabetically).

    Returns
    -------
    classes : list of str
        Sorted alphabetically (so label indices do not depend on row order).
    counts : collections.Counter
        Train token counts of all words.

    Example
    -------
    >>> rows = [{"word": w} for w in "a a a b b c".split()]
    >>> select_classes(rows, min_train_tokens=2)[0]
    ['a', 'b']
    >>> select_classes(rows, max_classes=1)[0]
    ['a']
    """
    counts = collections.Counter(r["word"] for r in train_rows if r["word"])
    kept = [w for w, c in counts.items() if c >= min_train_tokens]
    kept.sort(key=lambda w: (-counts[w], w))
    if max_classes is not None:
        kept = kept[: int(max_classes)]
    return sorted(kept), counts


def split_report(rows, classes, train_counts):
    """Count the tokens of ``rows`` kept (word in ``classes``) and dropped.

    Example
    -------
    >>> rows = [{"word": w, "spk_id": "s"} for w in "a b z".split()]
    >>> rep = split_report(rows, ["a"], {"a": 3, "b": 1})
    >>> rep["tokens_kept"], rep["tokens_unseen_in_train"], rep["tokens_rare_in_train"]
    (1, 1, 1)
    """
    classes = set(classes)
    kept = [r for r in rows if r["word"] in classes]
    unseen = [r for r in rows if r["word"] not in classes and r["word"] not in train_counts]
    rare = [r for r in rows if r["word"] not in classes and r["word"] in train_counts]
    return {
        "tokens_total": len(rows),
        "tokens_kept": len(kept),
        "speakers_kept": len({r["spk_id"] for r in kept}),
        "tokens_unseen_in_train": len(unseen),
        "types_unseen_in_train": len({r["word"] for r in unseen}),
        "tokens_rare_in_train": len(rare),
        "types_rare_in_train": len({r["word"] for r in rare}),
    }


class FrameBatch:
    """A padded batch of segment frames with their labels.

    Attributes mirror SpeechBrain's ``PaddedBatch``: ``id`` (list of segment
    ids), ``feats`` = ``(frames (B, T, F), relative lengths (B,))`` and
    ``word_encoded`` = ``(labels (B, 1), ones (B,))``.
    """

    def __init__(self, ids, frames, lengths, labels):
        self.id = ids
        self.frames = frames
        self.lengths = lengths
        self.labels = labels

    @property
    def feats(self):
        """``(frames, relative lengths)``, lengths in ``(0, 1]`` of the padded axis."""
        return self.frames, self.lengths

    @property
    def word_encoded(self):
        """``(labels (B, 1), ones)``."""
        return self.labels, torch.ones(len(self.id), device=self.labels.device)

    def to(self, device, non_blocking=True):
        """Move the tensors to ``device``; returns self."""
        for name in ("frames", "lengths", "labels"):
            setattr(self, name, getattr(self, name).to(device, non_blocking=non_blocking))
        return self

    def pin_memory(self):
        """Pin the tensors (DataLoader ``pin_memory=True``)."""
        for name in ("frames", "lengths", "labels"):
            setattr(self, name, getattr(self, name).pin_memory())
        return self

    def __len__(self):
        return len(self.id)


class FrameCollate:
    """Collate items ``{"id", "index", "word_encoded"}`` into a :class:`FrameBatch`.

    The frames of segment number ``index`` of ``store`` are gathered and
    zero-padded in one indexing operation
    (:func:`speechbrain_align.speech.pairs.gather_padded`).

    Example
    -------
    >>> from speechbrain_align.speech.features import FeatureStore
    >>> store = FeatureStore(["a", "b"], [0, 1, 5], torch.arange(10.).view(5, 2))
    >>> items = [{"id": "b", "index": 1, "word_encoded": torch.LongTensor([0])},
    ...          {"id": "a", "index": 0, "word_encoded": torch.LongTensor([1])}]
    >>> batch = FrameCollate(store)(items)
    >>> batch.frames.shape, batch.lengths.tolist(), batch.labels.tolist()
    (torch.Size([2, 4, 2]), [1.0, 0.25], [[0], [1]])
    """

    def __init__(self, store):
        self.store = store

    def __call__(self, items):
        from speechbrain_align.speech.pairs import gather_padded

        frames, lengths = gather_padded(self.store, [item["index"] for item in items])
        labels = torch.stack([item["word_encoded"] for item in items])
        return FrameBatch([item["id"] for item in items], frames, lengths, labels)


def bucket_order(lengths, batch_size, seed=0):
    """Shuffled batches of similar lengths (less padding per batch).

    Segments are sorted by length with random tie-breaking, cut into batches
    of ``batch_size`` consecutive segments, and the batches are shuffled.

    Returns
    -------
    list of list of int
        Batches of positions into ``lengths``.

    Example
    -------
    >>> batches = bucket_order([5, 1, 4, 2, 3, 6], 2, seed=0)
    >>> sorted(sorted(b) for b in batches)
    [[0, 5], [1, 3], [2, 4]]
    """
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths)
    order = np.lexsort((rng.random(len(lengths)), lengths))
    batches = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


class BucketBatchSampler(torch.utils.data.Sampler):
    """Batch sampler yielding :func:`bucket_order` batches, reshuffled each epoch.

    The epoch number (from SpeechBrain's ``set_epoch`` hook, else a counter)
    seeds the shuffle, so a resumed run sees the same batches.

    Example
    -------
    >>> sampler = BucketBatchSampler([3, 1, 2, 8], batch_size=2)
    >>> sorted(len(b) for b in sampler), len(sampler)
    ([2, 2], 2)
    """

    def __init__(self, lengths, batch_size, seed=0):
        self.lengths = list(lengths)
        self.batch_size = int(batch_size)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch):
        """Select the shuffle of ``epoch`` (called by SpeechBrain's Brain)."""
        self.epoch = epoch

    def __iter__(self):
        batches = bucket_order(self.lengths, self.batch_size, self.seed + self.epoch)
        self.epoch += 1
        return iter(batches)

    def __len__(self):
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size


def frame_stores(hparams, progress=True):
    """Cached, normalised feature stores of the three manifests.

    Uses :func:`speechbrain_align.speech.speech2vec_brain.prepare_stores`
    (computed once per manifest and feature options by the main process,
    cached under ``feature_cache``, normalised with the train statistics) and
    saves the extractor with its statistics to
    ``<save_folder>/feature_extractor.json`` for inference.

    Returns
    -------
    dict split -> FeatureStore
    """
    from speechbrain_align.speech.speech2vec_brain import prepare_stores

    missing = [k for k in ("feature_extractor", "feature_cache") if k not in hparams]
    if missing:
        raise ValueError(
            f"hparams lack {missing}: input_type 'frames' needs a FeatureExtractor "
            "(feature_extractor) and a cache folder (feature_cache), see "
            "recipes/Bible/classification/hparams/bilstm.yaml"
        )
    manifests = [hparams[f"{split}_csv"] for split in SPLITS]
    stores, _, extractor = prepare_stores(hparams, manifests, progress)
    extractor.save(os.path.join(hparams["save_folder"], "feature_extractor.json"))
    return dict(zip(SPLITS, stores))


def cache_images(rows, path, n_mels=128, size=32):
    """Resized log-Mel images of ``rows``' segments, cached in an ``.npz`` file.

    The cache is reused when it was made from the same segments (ids, audio
    files, times, and the files' sizes and dates:
    :func:`~speechbrain_align.dataio.audio.segments_fingerprint`) with the
    same image options; otherwise it is recomputed and written atomically.

    Returns
    -------
    dict
        Segment id -> float32 array ``(size * size,)``.
    """
    ids = [r["ID"] for r in rows]
    options = np.array([n_mels, size])
    key = np.array(segments_fingerprint(rows))
    if os.path.isfile(path):
        try:
            data = load_array_file(path, "image cache")
            if (list(data["ids"]) == ids and np.array_equal(data["options"], options)
                    and str(data.get("key", "")) == str(key)):
                return dict(zip(ids, data["images"]))
        except (DamagedFileError, KeyError, TypeError) as err:
            logger.warning("%s: unreadable image cache (%s), recomputing", path, err)
    from tqdm import tqdm

    images = np.zeros((len(rows), size * size), dtype=np.float32)
    for i, row in enumerate(tqdm(rows, desc=f"images {os.path.basename(path)}", leave=False)):
        signal = load_segment(row["wav"], row["start"], row["stop"])
        images[i] = logmel_image(signal, n_mels=n_mels, size=size)
    atomic_save(
        path,
        lambda tmp: np.savez(
            tmp, ids=np.array(ids, dtype=str), images=images, options=options, key=key
        ),
    )
    return dict(zip(ids, images))


def _audio_pipeline(cache):
    """``sig`` item: the segment's 16 kHz float32 samples, read once into ``cache``."""

    @sb.utils.data_pipeline.takes("id", "wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(seg_id, wav, start, stop):
        if seg_id not in cache:
            cache[seg_id] = torch.from_numpy(load_segment(wav, start, stop))
        return cache[seg_id]

    return audio_pipeline


def dataio_prepare(hparams, classes, stores=None):
    """Build the train/valid/test ``DynamicItemDataset`` s and the label encoder.

    Arguments
    ---------
    hparams : dict
        Needs ``train_csv``, ``valid_csv``, ``test_csv``, ``save_folder``,
        ``input_type`` (one of :data:`INPUT_TYPES`), ``label_encoder``;
        optional ``sorting`` ("ascending", "descending", "random"),
        ``n_mels_image``, ``image_size``.
    classes : list of str
        Word classes (rows of other words are dropped).
    stores : dict split -> FeatureStore, optional
        For ``input_type: frames`` (see :func:`frame_stores`); items then
        carry the segment's ``index`` in its split's store (batch them with
        :class:`FrameCollate`). Segments missing from a store (skipped by the
        feature extraction) are dropped with a counted warning.

    Returns
    -------
    datasets : dict split -> DynamicItemDataset
        Output keys ``id``, ``word_encoded`` and ``index`` (frames), ``image``
        or ``sig`` (waveform).
    """
    input_type = hparams["input_type"]
    if input_type not in INPUT_TYPES:
        raise ValueError(f"hparams input_type={input_type!r}: use one of {INPUT_TYPES}")
    class_set = set(classes)
    encoder = hparams["label_encoder"]
    if len(encoder) == 0:
        encoder.update_from_iterable(classes)
    encoder.expect_len(len(classes))
    atomic_save(os.path.join(hparams["save_folder"], "label_encoder.txt"), encoder.save)

    @sb.utils.data_pipeline.takes("word")
    @sb.utils.data_pipeline.provides("word_encoded")
    def label_pipeline(word):
        return torch.LongTensor([encoder.encode_label(word)])

    datasets = {}
    for split in SPLITS:
        manifest = hparams[f"{split}_csv"]
        rows = [r for r in read_segment_manifest(manifest) if r["word"] in class_set]
        if input_type == "frames":
            if stores is None:
                raise ValueError("input_type 'frames' needs the feature stores (frame_stores)")
            index = stores[split].index
            missing = [r for r in rows if r["ID"] not in index]
            if missing:
                logger.warning(
                    "%s: %d segment(s) without features dropped (first %r)",
                    manifest, len(missing), missing[0]["ID"],
                )
                rows = [r for r in rows if r["ID"] in index]
        if not rows:
            raise ManifestError(f"{manifest}: no segment of the {len(classes)} classes")
        data = {
            r["ID"]: {k: r[k] for k in ("wav", "start", "stop", "duration", "word", "spk_id")}
            for r in rows
        }
        if input_type == "frames":
            for r in rows:
                i = index[r["ID"]]
                data[r["ID"]]["index"] = i
                data[r["ID"]]["frames"] = int(stores[split].lengths[i])
        dataset = DynamicItemDataset(data)
        if input_type == "frames":
            keys = ["id", "index", "word_encoded"]
        elif input_type == "image":
            cache = cache_images(
                rows,
                os.path.join(hparams["save_folder"], f"images_{split}.npz"),
                n_mels=hparams.get("n_mels_image", 128),
                size=hparams.get("image_size", 32),
            )

            @sb.utils.data_pipeline.takes("id")
            @sb.utils.data_pipeline.provides("image")
            def image_pipeline(seg_id, cache=cache):
                return torch.from_numpy(cache[seg_id])

            dataset.add_dynamic_item(image_pipeline)
            keys = ["id", "image", "word_encoded"]
        else:
            dataset.add_dynamic_item(_audio_pipeline({}))
            keys = ["id", "sig", "word_encoded"]
        dataset.add_dynamic_item(label_pipeline)
        dataset.set_output_keys(keys)
        sorting = hparams.get("sorting", "random")
        if split == "train" and sorting in ("ascending", "descending"):
            dataset = dataset.filtered_sorted(
                sort_key="duration", reverse=sorting == "descending"
            )
        datasets[split] = dataset
    return datasets
