"""Supervised word classification of spoken word segments (SpeechBrain Brain).

One :class:`ClassifierBrain` trains either supervised baseline of
:mod:`speechbrain_align.nnet.classifiers`:

* ``input_type: frames``: Fbank/MFCC frames computed on the fly by a
  SpeechBrain lobe (``compute_features``), normalised (``mean_var_norm``) and
  read by the last-step BiLSTM;
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

from speechbrain_align.dataio.audio import load_segment
from speechbrain_align.dataio.manifest import ManifestError, read_segment_manifest
from speechbrain_align.speech.acoustic_image import logmel_image
from speechbrain_align.utils.files import atomic_save, write_json

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


class ClassifierBrain(sb.Brain):
    """Brain for the supervised word classifiers (BiLSTM on frames, MLP on images).

    Required hparams: ``input_type`` ("frames" or "image"), ``epoch_counter``,
    ``train_logger``; modules: ``model`` and, for frames, ``compute_features``
    and ``mean_var_norm``. Optional hparam ``results_file`` (test JSON path).
    After :meth:`evaluate`, ``self.test_predictions`` maps segment id to
    ``(predicted word, true word)``.
    """

    def compute_forward(self, batch, stage):
        """Log-probabilities ``(batch, n_classes)`` for a batch of segments."""
        batch = batch.to(self.device)
        if self.hparams.input_type == "frames":
            wavs, lens = batch.sig
            feats = self.modules.compute_features(wavs)
            feats = self.modules.mean_var_norm(feats, lens)
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


def cache_images(rows, path, n_mels=128, size=32):
    """Resized log-Mel images of ``rows``' segments, cached in an ``.npz`` file.

    The cache is reused when it holds exactly these ids with the same image
    options; otherwise it is recomputed and written atomically.

    Returns
    -------
    dict
        Segment id -> float32 array ``(size * size,)``.
    """
    ids = [r["ID"] for r in rows]
    options = np.array([n_mels, size])
    if os.path.isfile(path):
        try:
            with np.load(path, allow_pickle=False) as data:
                if list(data["ids"]) == ids and np.array_equal(data["options"], options):
                    return dict(zip(ids, data["images"]))
        except (OSError, ValueError, KeyError) as err:
            logger.warning("%s: unreadable image cache (%s), recomputing", path, err)
    from tqdm import tqdm

    images = np.zeros((len(rows), size * size), dtype=np.float32)
    for i, row in enumerate(tqdm(rows, desc=f"images {os.path.basename(path)}", leave=False)):
        signal = load_segment(row["wav"], row["start"], row["stop"])
        images[i] = logmel_image(signal, n_mels=n_mels, size=size)
    atomic_save(
        path,
        lambda tmp: np.savez(tmp, ids=np.array(ids, dtype=str), images=images, options=options),
    )
    return dict(zip(ids, images))


def dataio_prepare(hparams, classes):
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
        if not rows:
            raise ManifestError(
                f"{hparams[f'{split}_csv']}: no segment of the {len(classes)} classes"
            )
        data = {
            r["ID"]: {k: r[k] for k in ("wav", "start", "stop", "duration", "word", "spk_id")}
            for r in rows
        }
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

            @sb.utils.data_pipeline.takes("wav", "start", "stop")
            @sb.utils.data_pipeline.provides("sig")
            def audio_pipeline(wav, start, stop):
                return torch.from_numpy(load_segment(wav, start, stop))

            dataset.add_dynamic_item(audio_pipeline)
            keys = ["id", "sig", "word_encoded"]

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
    datasets = dataio_prepare(hparams, classes)

    brain = ClassifierBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts or {},
        checkpointer=hparams["checkpointer"],
    )
    train_kwargs = dict(hparams["dataloader_options"])
    if hparams.get("sorting", "random") != "random":
        train_kwargs["shuffle"] = False
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=train_kwargs,
        valid_loader_kwargs=hparams["test_dataloader_options"],
    )
    brain.evaluate(
        datasets["test"],
        min_key="error",
        test_loader_kwargs=hparams["test_dataloader_options"],
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
