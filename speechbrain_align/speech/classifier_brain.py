"""Supervised word classification of spoken word segments (SpeechBrain Brain).

One :class:`ClassifierBrain` trains either supervised baseline of
:mod:`speechbrain_align.nnet.classifiers`:

* ``input_type: frames``: Fbank/MFCC frames of every segment, computed once
  per manifest and feature options by
  :class:`~speechbrain_align.speech.features.FeatureExtractor` and cached in
  ``feature_cache`` (:func:`~speechbrain_align.speech.features.load_features`),
  held in memory, normalised with the train set's global mean/variance, and
  batched by :class:`FrameCollate` (one gather from the in-memory store, no
  audio decoding during training); read by the last-step BiLSTM;
* ``input_type: image``: the 1,024-feature resized log-Mel image of each
  segment, computed once and cached in ``<save_folder>/images_<split>.npz``,
  read by the MLP.

Data come from segment manifests (``ID,wav,start,stop,duration,word,spk_id,
utt_id,position``, see :mod:`speechbrain_align.dataio.manifest`). The class
set is the train words with at least ``min_train_tokens`` tokens (optionally
the ``max_classes`` most frequent); valid/test tokens of other words are
dropped, counted and reported (``unseen`` = never seen in train, ``rare`` =
seen but below the threshold). Test results go to
``<output_folder>/test_results.json``.

The recipe scripts under ``recipes/*/classification`` only parse arguments,
run the data preparation and call :func:`run_classification`.
"""

import collections
import logging
import os

import numpy as np
import torch
import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.dataio.encoder import CategoricalEncoder

from speechbrain_align.dataio.audio import load_segment, segments_fingerprint
from speechbrain_align.dataio.manifest import ManifestError, read_segment_manifest
from speechbrain_align.speech.acoustic_image import logmel_image
from speechbrain_align.utils.errors import DamagedFileError
from speechbrain_align.utils.files import atomic_save, load_array_file, write_json

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


class ClassifierBrain(sb.Brain):
    """Brain for the supervised word classifiers (BiLSTM on frames, MLP on images).

    Required hparams: ``input_type`` ("frames" or "image"), ``epoch_counter``,
    ``train_logger``; module ``model``. Frames batches come from
    :class:`FrameCollate`. Optional hparam ``results_file`` (test JSON path).
    After :meth:`evaluate`, ``self.test_predictions`` maps segment id to
    ``(predicted word, true word)``.
    """

    def compute_forward(self, batch, stage):
        """Log-probabilities ``(batch, n_classes)`` for a batch of segments."""
        batch = batch.to(self.device)
        if self.hparams.input_type == "frames":
            feats, lens = batch.feats
            return self.modules.model(feats, lens)
        if self.hparams.input_type == "image":
            images, _ = batch.image
            return self.modules.model(images)
        raise ValueError(
            f"hparams input_type={self.hparams.input_type!r}: use 'frames' or 'image'"
        )

    def compute_objectives(self, predictions, batch, stage):
        """NLL loss; accumulates the classification error outside training."""
        labels, _ = batch.word_encoded
        labels = labels.reshape(-1)
        loss = sb.nnet.losses.nll_loss(predictions, labels)
        if stage != sb.Stage.TRAIN:
            self.error_metrics.append(batch.id, predictions, labels, reduction="batch")
        if stage == sb.Stage.TEST:
            guesses = predictions.argmax(dim=-1).cpu().tolist()
            for seg_id, guess, label in zip(batch.id, guesses, labels.cpu().tolist()):
                self.test_predictions[seg_id] = (
                    self.hparams.label_encoder.decode_ndim(guess),
                    self.hparams.label_encoder.decode_ndim(label),
                )
        return loss

    def on_stage_start(self, stage, epoch=None):
        """Fresh error statistics for each validation/test pass."""
        if stage != sb.Stage.TRAIN:
            self.error_metrics = sb.utils.metric_stats.MetricStats(
                metric=sb.nnet.losses.classification_error
            )
        if stage == sb.Stage.TEST:
            self.test_predictions = {}

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log, checkpoint on the validation error, summarise the test pass."""
        stats = {"loss": stage_loss}
        if stage != sb.Stage.TRAIN:
            error = self.error_metrics.summarize("average")
            stats["error"] = error
            stats["accuracy"] = 1.0 - error
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
        elif stage == sb.Stage.VALID:
            lr = self.optimizer.param_groups[0]["lr"]
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(meta=stats, min_keys=["error"])
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current},
                test_stats=stats,
            )
            self.test_stats = stats


# ---------------------------------------------------------------- data


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
        relative = lengths.float() / frames.shape[1]
        labels = torch.stack([item["word_encoded"] for item in items])
        return FrameBatch([item["id"] for item in items], frames, relative, labels)


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


def dataio_prepare(hparams, classes, stores=None):
    """Build the train/valid/test ``DynamicItemDataset`` s and the label encoder.

    Arguments
    ---------
    hparams : dict
        Needs ``train_csv``, ``valid_csv``, ``test_csv``, ``save_folder``,
        ``input_type``, ``label_encoder``; optional ``sorting``
        ("ascending", "descending", "random"), ``n_mels_image``,
        ``image_size``.
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
    """
    class_set = set(classes)
    encoder = hparams["label_encoder"]
    if len(encoder) == 0:
        encoder.update_from_iterable(classes)
    encoder.expect_len(len(classes))
    atomic_save(os.path.join(hparams["save_folder"], "label_encoder.txt"), encoder.save)

    datasets = {}
    for split in SPLITS:
        rows = [r for r in read_segment_manifest(hparams[f"{split}_csv"]) if r["word"] in class_set]
        if hparams["input_type"] == "frames":
            if stores is None:
                raise ValueError("input_type 'frames' needs the feature stores (frame_stores)")
            index = stores[split].index
            missing = [r for r in rows if r["ID"] not in index]
            if missing:
                logger.warning(
                    "%s: %d segment(s) without features dropped (first %r)",
                    hparams[f"{split}_csv"], len(missing), missing[0]["ID"],
                )
                rows = [r for r in rows if r["ID"] in index]
        if not rows:
            raise ManifestError(
                f"{hparams[f'{split}_csv']}: no segment of the {len(classes)} classes"
            )
        data = {
            r["ID"]: {k: r[k] for k in ("wav", "start", "stop", "duration", "word", "spk_id")}
            for r in rows
        }
        if hparams["input_type"] == "frames":
            for r in rows:
                i = index[r["ID"]]
                data[r["ID"]]["index"] = i
                data[r["ID"]]["frames"] = int(stores[split].lengths[i])
        dataset = DynamicItemDataset(data)

        if hparams["input_type"] == "image":
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
            keys = ["id", "index", "word_encoded"]

        @sb.utils.data_pipeline.takes("word")
        @sb.utils.data_pipeline.provides("word_encoded")
        def label_pipeline(word):
            return torch.LongTensor([encoder.encode_label(word)])

        dataset.add_dynamic_item(label_pipeline)
        dataset.set_output_keys(keys)
        sorting = hparams.get("sorting", "random")
        if split == "train" and sorting in ("ascending", "descending"):
            dataset = dataset.filtered_sorted(
                sort_key="duration", reverse=sorting == "descending"
            )
        datasets[split] = dataset
    return datasets


def load_hparams(hparams_file, overrides=None, n_classes=None):
    """Load a classification YAML, forcing ``n_classes`` when given."""
    import yaml

    if isinstance(overrides, str):
        overrides = yaml.safe_load(overrides) if overrides.strip() else {}
    overrides = dict(overrides or {})
    if n_classes is not None:
        overrides["n_classes"] = int(n_classes)
    with open(hparams_file, encoding="utf-8") as handle:
        return load_hyperpyyaml(handle, overrides)


def run_classification(hparams_file, run_opts=None, overrides=None):
    """Train, validate and test a word classifier described by a YAML file.

    The YAML's manifests must exist (run the data preparation first). The
    class set is chosen from the train manifest (``min_train_tokens``,
    ``max_classes``) and the YAML is reloaded with the matching ``n_classes``
    when it differs. Training resumes from the last checkpoint in
    ``save_folder``; the best validation checkpoint is tested.

    Returns
    -------
    dict
        The content written to ``results_file``: test accuracy and error,
        number of classes, split sizes, dropped (unseen/rare) tokens.
    """
    hparams = load_hparams(hparams_file, overrides)
    sb.utils.seed.seed_everything(hparams["seed"])
    train_rows = read_segment_manifest(hparams["train_csv"])
    classes, train_counts = select_classes(
        train_rows, hparams.get("min_train_tokens", 1), hparams.get("max_classes")
    )
    if len(classes) < 2:
        raise ManifestError(
            f"{hparams['train_csv']}: {len(classes)} word(s) with >= "
            f"{hparams.get('min_train_tokens', 1)} train tokens; need at least 2 classes"
        )
    if hparams["n_classes"] != len(classes):
        logger.info("n_classes set to %d from the train manifest", len(classes))
        hparams = load_hparams(hparams_file, overrides, n_classes=len(classes))
    reports = {
        split: split_report(
            train_rows if split == "train" else read_segment_manifest(hparams[f"{split}_csv"]),
            classes,
            train_counts,
        )
        for split in SPLITS
    }
    for split, rep in reports.items():
        logger.info("%s: %s", split, rep)
    stores = None
    if hparams["input_type"] == "frames":
        stores = frame_stores(hparams, progress=not (run_opts or {}).get("noprogressbar", False))
    datasets = dataio_prepare(hparams, classes, stores)

    brain = ClassifierBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts or {},
        checkpointer=hparams["checkpointer"],
    )
    loader_kwargs = {
        split: dict(hparams["dataloader_options" if split == "train" else "test_dataloader_options"])
        for split in SPLITS
    }
    if stores is not None:
        for split in SPLITS:
            loader_kwargs[split]["collate_fn"] = FrameCollate(stores[split])
    sorting = hparams.get("sorting", "random")
    if sorting not in ("random", "ascending", "descending", "buckets"):
        raise ValueError(
            f"hparams sorting={sorting!r}: use random, ascending, descending or buckets"
        )
    train_kwargs = loader_kwargs["train"]
    if sorting != "random":
        train_kwargs["shuffle"] = False
    if sorting == "buckets":
        train_set = datasets["train"]
        durations = [train_set.data[i]["duration"] for i in train_set.data_ids]
        sampler = BucketBatchSampler(
            durations, train_kwargs.pop("batch_size", 1), seed=hparams["seed"]
        )
        train_kwargs.pop("shuffle", None)
        train_kwargs["batch_sampler"] = sampler
        brain.train_sampler = sampler  # Brain calls set_epoch(epoch) on it
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=train_kwargs,
        valid_loader_kwargs=loader_kwargs["valid"],
    )
    brain.evaluate(
        datasets["test"],
        min_key="error",
        test_loader_kwargs=loader_kwargs["test"],
    )
    predictions = brain.test_predictions
    correct = sum(p == t for p, t in predictions.values())
    n_test = len(predictions)
    test_rep = reports["test"]
    dropped = test_rep["tokens_total"] - test_rep["tokens_kept"]
    results = {
        "model": hparams.get("model_name", hparams["input_type"]),
        "n_classes": len(classes),
        "classes": classes if len(classes) <= 50 else classes[:50] + ["..."],
        "min_train_tokens": hparams.get("min_train_tokens", 1),
        "train_tokens_of_classes": sum(train_counts[w] for w in classes),
        "test_accuracy": correct / n_test,
        "test_error": 1.0 - correct / n_test,
        "test_accuracy_counting_dropped_as_errors": correct / (n_test + dropped),
        "chance_accuracy": max(
            collections.Counter(t for _, t in predictions.values()).values()
        )
        / n_test,
        "split_sizes": {s: reports[s]["tokens_kept"] for s in SPLITS},
        "splits": reports,
        "checkpoint_epoch": hparams["epoch_counter"].current,  # best on valid
    }
    results_file = hparams.get(
        "results_file", os.path.join(hparams["output_folder"], "test_results.json")
    )
    if sb.utils.distributed.if_main_process():
        write_json(results_file, results)
    logger.info(
        "test accuracy %.4f on %d tokens (%d classes); written to %s",
        results["test_accuracy"],
        n_test,
        len(classes),
        results_file,
    )
    return results
