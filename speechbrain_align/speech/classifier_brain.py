"""Supervised word classification of spoken word segments (SpeechBrain Brain).

One :class:`ClassifierBrain` trains every supervised word classifier; the
YAML's ``input_type`` picks the input (see
:mod:`speechbrain_align.speech.classifier_data`):

* ``frames``: cached, globally normalised Fbank/MFCC frames, read by the
  paper's last-step BiLSTM (:class:`~speechbrain_align.nnet.classifiers.LastStepBiLSTM`);
* ``image``: the cached 1,024-feature resized log-Mel image, read by the MLP
  (:class:`~speechbrain_align.nnet.classifiers.ImageMLP`);
* ``waveform``: the segment's samples; augmentation (``speechbrain.augment``),
  features and normalisation run on each batch, then an encoder and a
  classifier, laid out as SpeechBrain's ``EncoderClassifier`` expects.

Data come from segment manifests (``ID,wav,start,stop,duration,word,spk_id,
utt_id,position``, see :mod:`speechbrain_align.dataio.manifest`). The class
set is the train words with at least ``min_train_tokens`` tokens (optionally
the ``max_classes`` most frequent); valid/test tokens of other words are
dropped, counted and reported (``unseen`` = never seen in train, ``rare`` =
seen but below the threshold). :func:`run_classification` writes the test
results to ``<output_folder>/test_results.json``, the confusion matrix next to
it (``confusion.json``, ``confusion_matrix.png``) and the best checkpoint as
a folder that ``speechbrain.inference.classifiers.EncoderClassifier`` loads
(``export_folder``, see :mod:`speechbrain_align.inference.word_classifier`).

The recipe scripts under ``recipes/*/classification`` only parse arguments,
run the data preparation and call :func:`run_classification`.
"""

import collections
import logging
import os
import time

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

from speechbrain_align.dataio.manifest import ManifestError, read_segment_manifest
from speechbrain_align.speech.classifier_data import (
    SPLITS,
    BucketBatchSampler,
    FrameCollate,
    dataio_prepare,
    frame_stores,
    select_classes,
    split_report,
)
from speechbrain_align.utils.files import write_json

logger = logging.getLogger(__name__)


class ClassifierBrain(sb.Brain):
    """Brain for the supervised word classifiers.

    Required hparams: ``input_type`` (see
    :data:`~speechbrain_align.speech.classifier_data.INPUT_TYPES`),
    ``epoch_counter``, ``train_logger``. Modules:

    * ``frames`` / ``image``: ``model`` maps a :class:`FrameCollate` batch's
      ``(frames, relative lengths)`` or the flattened images to log-probabilities;
    * ``waveform``: the four modules of SpeechBrain's ``EncoderClassifier``:
      ``compute_features`` (e.g. the ``Fbank`` lobe), ``mean_var_norm``
      (``InputNormalization``, called with the epoch so that global statistics
      are gathered during the first epoch), ``embedding_model`` (frames and
      relative lengths to ``(batch, 1, dim)``) and ``classifier`` (to
      log-probabilities). Optional hparams ``wav_augment`` (applied to the
      waveforms) and ``feat_augment`` (to the normalised features), both
      ``speechbrain.augment.augmenter.Augmenter``, act in training only.

    Optional hparams ``label_smoothing`` (of the training loss) and
    ``lr_annealing``: called with the epoch after each
    validation, returning ``(old_lr, new_lr)`` (e.g.
    ``speechbrain.nnet.schedulers.LinearScheduler``). After :meth:`evaluate`,
    ``self.test_predictions`` maps segment id to ``(predicted word, true word)``.
    """

    def compute_forward(self, batch, stage):
        """Log-probabilities ``(batch, n_classes)`` for a batch of segments."""
        batch = batch.to(self.device)
        input_type = self.hparams.input_type
        if input_type == "frames":
            feats, lens = batch.feats
            return self.modules.model(feats, lens)
        if input_type == "image":
            images, _ = batch.image
            return self.modules.model(images)
        if input_type == "waveform":
            wavs, lens = batch.sig
            train = stage == sb.Stage.TRAIN
            if train and hasattr(self.hparams, "wav_augment"):
                wavs, lens = self.hparams.wav_augment(wavs, lens)
            feats = self.modules.compute_features(wavs)
            feats = self.modules.mean_var_norm(feats, lens, epoch=self.hparams.epoch_counter.current)
            if train and hasattr(self.hparams, "feat_augment"):
                feats, lens = self.hparams.feat_augment(feats, lens)
            embeddings = self.modules.embedding_model(feats, lens)
            return self.modules.classifier(embeddings).reshape(feats.shape[0], -1)
        raise ValueError(f"hparams input_type={input_type!r}: use frames, image or waveform")

    def compute_objectives(self, predictions, batch, stage):
        """NLL loss; accumulates the classification error outside training."""
        labels, _ = batch.word_encoded
        labels = labels.reshape(-1)
        if stage == sb.Stage.TRAIN and self.hparams.input_type == "waveform":
            for name in ("wav_augment", "feat_augment"):  # augmenters may add copies
                if hasattr(self.hparams, name):
                    labels = getattr(self.hparams, name).replicate_labels(labels)
        smoothing = getattr(self.hparams, "label_smoothing", 0.0) if stage == sb.Stage.TRAIN else 0.0
        loss = sb.nnet.losses.nll_loss(predictions, labels, label_smoothing=smoothing)
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
        """Fresh error statistics for each validation/test pass; time each training pass."""
        if stage == sb.Stage.TRAIN:
            self.train_started = time.perf_counter()
        else:
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
            self.train_seconds = time.perf_counter() - self.train_started
        elif stage == sb.Stage.VALID:
            lr = self.optimizer.param_groups[0]["lr"]
            if hasattr(self.hparams, "lr_annealing"):
                _, new_lr = self.hparams.lr_annealing(epoch)
                sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr, "train seconds": round(self.train_seconds, 2)},
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


def overrides_dict(overrides):
    """YAML overrides as a dict (SpeechBrain's ``parse_arguments`` gives a string)."""
    import yaml

    if isinstance(overrides, str):
        overrides = yaml.safe_load(overrides) if overrides.strip() else {}
    return dict(overrides or {})


def load_hparams(hparams_file, overrides=None, n_classes=None):
    """Load a classification YAML, forcing ``n_classes`` when given."""
    overrides = overrides_dict(overrides)
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
        number of classes, split sizes, dropped (unseen/rare) tokens, the
        confusion files and the inference folder (``export_folder``; set it
        to null in the YAML to skip the export).
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
        overrides = dict(overrides_dict(overrides), n_classes=len(classes))
        hparams = load_hparams(hparams_file, overrides)
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
    export_folder = hparams.get("export_folder", os.path.join(hparams["output_folder"], "inference"))
    if sb.utils.distributed.if_main_process():
        from speechbrain_align.evaluation.confusion import write_confusion

        folder = os.path.dirname(os.path.abspath(results_file))
        results["confusion"] = write_confusion(predictions.values(), classes, folder)
        if export_folder:
            from speechbrain_align.inference.word_classifier import export_word_classifier

            export_word_classifier(export_folder, hparams_file, overrides, brain, hparams)
            results["export_folder"] = export_folder
        write_json(results_file, results)
    logger.info(
        "test accuracy %.4f on %d tokens (%d classes); written to %s",
        results["test_accuracy"],
        n_test,
        len(classes),
        results_file,
    )
    return results
