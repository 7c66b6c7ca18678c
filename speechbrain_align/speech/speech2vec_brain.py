"""Training and export of Speech2Vec with SpeechBrain's Brain.

:class:`Speech2VecBrain` trains the model from YAML (modules, optimiser,
Checkpointer, EpochCounter, FileTrainLogger) and is resumable when killed;
``run_opts`` choose the device, DDP (torchrun) and precision (fp16/bf16 on a
GPU) through Brain's own machinery.

:func:`run_speech2vec` is the whole recipe (used by the Bible and LibriSpeech
``train.py``): features (cached), examples, fit, then export of

* ``segments.vec`` / ``segments.npz``: one vector per segment, the segment id
  as the word (counts = 1);
* ``types_label.vec`` / ``.npz``: (A) average by word label, counts = segments;
* ``types_kmeans.vec`` / ``.npz`` + ``kmeans_assignment.csv``: (B) k-means
  clusters ``c00017``, counts = members;
* ``feature_extractor.json``: feature options, normalisation mode
  (``feature_norm``: global | speaker) and statistics for inference
  (:meth:`FeatureExtractor.load`).

With ``segmentation: equal_chunks`` the training manifest is first replaced by
the equal-size-chunk baseline (:func:`~speechbrain_align.dataio.segmentation.equal_chunks`).
"""

import logging
import os
import time

import numpy as np
import speechbrain as sb
import torch

from speechbrain_align.dataio.manifest import read_segment_manifest, write_segment_manifest
from speechbrain_align.dataio.segmentation import equal_chunks
from speechbrain_align.dataio.vectors import Embeddings, save_embeddings
from speechbrain_align.nnet.speech2vec import masked_mse
from speechbrain_align.speech.feature_cache import load_features
from speechbrain_align.speech.features import NORM_MODES, average_speaker_stats
from speechbrain_align.speech.pairs import (
    Speech2VecCollate,
    build_examples,
    gather_padded,
    make_dataset,
)
from speechbrain_align.speech.wordtypes import average_by_label, kmeans_types, write_assignment
from speechbrain_align.utils.files import write_json

logger = logging.getLogger(__name__)


def _unwrap(module):
    return getattr(module, "module", module)


class Speech2VecBrain(sb.Brain):
    """Brain for Speech2Vec: masked-MSE reconstruction of neighbouring segments.

    Expects ``modules["speech2vec"]`` (a
    :class:`~speechbrain_align.nnet.speech2vec.Speech2Vec`) and, in hparams,
    ``epoch_counter``, optionally ``train_logger``. Batches are
    :class:`~speechbrain_align.speech.pairs.Speech2VecBatch`.
    """

    def compute_forward(self, batch, stage):
        """Move the batch to the device and run the objective."""
        batch = batch.to(self.device)
        return self.modules.speech2vec(
            batch.centre, batch.centre_lens, batch.context, batch.context_lens, batch.owner
        )

    def compute_objectives(self, predictions, batch, stage):
        """MSE over real frames (computed in float32 under mixed precision)."""
        pred, target, lengths = predictions
        return masked_mse(pred.float(), target.float(), lengths)

    def on_stage_start(self, stage, epoch=None):
        """Start the stage timer."""
        self._stage_start = time.time()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log losses, save a checkpoint after validation (or after training if none)."""
        elapsed = time.time() - getattr(self, "_stage_start", time.time())
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            self.train_seconds = elapsed
            if not getattr(self, "has_valid", False):
                self._log_and_save(epoch, {"loss": stage_loss, "seconds": round(elapsed, 1)}, None)
        elif stage == sb.Stage.VALID:
            self._log_and_save(
                epoch,
                {"loss": self.train_loss, "seconds": round(self.train_seconds, 1)},
                {"loss": stage_loss},
            )

    def _log_and_save(self, epoch, train_stats, valid_stats):
        logger_obj = getattr(self.hparams, "train_logger", None)
        if logger_obj is not None:
            logger_obj.log_stats(
                stats_meta={"epoch": epoch}, train_stats=train_stats, valid_stats=valid_stats
            )
        if self.checkpointer is not None:
            meta = {"loss": (valid_stats or train_stats)["loss"], "epoch": epoch}
            self.checkpointer.save_and_keep_only(meta=meta, min_keys=["loss"], num_to_keep=1)

    @torch.no_grad()
    def embed(self, store, batch_size=256):
        """Vectors ``(len(store), emb_dim)`` (numpy) of every segment in a FeatureStore.

        Segments are batched by similar length; the order of ``store.ids`` is kept.
        """
        model = _unwrap(self.modules.speech2vec)
        model.eval()
        order = np.argsort(store.lengths.numpy(), kind="stable")
        out = np.zeros((len(store), model.emb_dim), dtype=np.float32)
        for begin in range(0, len(order), batch_size):
            idx = order[begin : begin + batch_size]
            padded, lens = gather_padded(store, idx)
            emb = model.encode(padded.to(self.device), lens.to(self.device))
            out[idx] = emb.float().cpu().numpy()
        return out


def _cache_features(*args, **kwargs):
    """Compute and cache the features; returns None (run_on_main broadcasts what
    its function returns: the store would be pickled to every process)."""
    load_features(*args, **kwargs)


def prepare_stores(hparams, manifests, progress=True):
    """Feature stores, normalised as ``hparams["feature_norm"]`` says.

    * ``global`` (default when absent): every store with the first
      (training) manifest's mean/std;
    * ``speaker``: every segment with its speaker's (``spk_id``) mean/std over
      that speaker's segments in the same manifest (speaker CMVN; held-out
      speakers use their own audio, no labels). The extractor then keeps the
      average training speaker's statistics for inference on a lone word of
      an unknown speaker (see :mod:`speechbrain_align.speech.features`).

    Features are computed and cached (raw, unnormalised) by the main process
    only (DDP-safe, via ``run_on_main``); every process then reads them from
    the cache and normalises them identically.

    Arguments
    ---------
    hparams : dict
        Needs ``feature_extractor`` (a FeatureExtractor), ``feature_cache``,
        optionally ``feature_norm``, ``min_frames``, ``short_segments``, ``nonfinite``,
        ``feature_workers``.
    manifests : list of str
        The first one is the training manifest (source of the statistics).
    progress : bool
        Show a progress bar while computing features.

    Returns
    -------
    stores : list of FeatureStore, rows : list of list of dict, extractor
    """
    from speechbrain.utils.distributed import run_on_main

    extractor = hparams["feature_extractor"]
    norm = hparams.get("feature_norm", "global")
    if norm not in NORM_MODES:
        raise ValueError(f"feature_norm must be one of {NORM_MODES}, got {norm!r}")
    stores, all_rows = [], []
    for manifest in manifests:
        rows = read_segment_manifest(manifest)
        kwargs = dict(
            min_frames=hparams.get("min_frames", 3),
            short_segments=hparams.get("short_segments", "pad"),
            nonfinite=hparams.get("nonfinite", "error"),
            rows=rows,
        )
        args = (manifest, hparams["feature_cache"], extractor)
        run_on_main(_cache_features, args=args,
                    kwargs=dict(kwargs, progress=progress, workers=hparams.get("feature_workers", 1)))
        stores.append(load_features(*args, progress=False, **kwargs))
        all_rows.append(rows)
    extractor.norm = norm
    if norm == "speaker":
        for manifest, store, rows in zip(manifests, stores, all_rows):
            speakers = {row["ID"]: row.get("spk_id", "") for row in rows}
            stats = store.normalise_by_speaker(speakers, source=manifest)
            if store is stores[0]:
                extractor.set_stats(*average_speaker_stats(stats))
        return stores, all_rows, extractor
    mean, std = stores[0].stats()
    extractor.set_stats(mean, std)
    for store in stores:
        store.normalise(mean, std)
    return stores, all_rows, extractor


def make_loader_dataset(hparams, store, rows, source, shuffle_seed=0, subsample=True):
    """Examples and DynamicItemDataset for one store; returns (dataset, stats).

    ``subsample=False`` decodes every neighbour (``max_contexts`` ignored):
    validation must score the same examples every epoch, or the best
    checkpoint would be chosen on sampling noise.
    """
    examples, stats = build_examples(rows, hparams["window"], available=store.index, source=source)
    if not examples:
        raise ValueError(f"{source}: no segment has a neighbour; nothing to train on")
    dataset = make_dataset(
        examples, store, max_contexts=hparams.get("max_contexts") if subsample else None,
        seed=shuffle_seed,
    )
    return dataset, stats


def export_vectors(brain, store, rows, folder, num_clusters=None, kmeans_seed=1234,
                   prefix="", batch_size=256):
    """Write segment vectors and word-type vectors (A: by label, B: k-means).

    Returns a dict of what was written (paths and sizes).
    """
    os.makedirs(folder, exist_ok=True)
    vectors = brain.embed(store, batch_size)
    words = {row["ID"]: row.get("word", "") for row in rows}
    labels = [words[i] for i in store.ids]
    written = {"segments": len(store)}
    segs = Embeddings(store.ids, vectors, np.ones(len(store), dtype=np.int64))
    for ext in (".vec", ".npz"):
        save_embeddings(segs, os.path.join(folder, f"{prefix}segments{ext}"))
    if any(labels):
        types = average_by_label(vectors, labels, source=prefix + "segments")
        for ext in (".vec", ".npz"):
            save_embeddings(types, os.path.join(folder, f"{prefix}types_label{ext}"))
        written["label_types"] = len(types)
    if num_clusters:
        clusters, assignment = kmeans_types(vectors, num_clusters, seed=kmeans_seed)
        for ext in (".vec", ".npz"):
            save_embeddings(clusters, os.path.join(folder, f"{prefix}types_kmeans{ext}"))
        write_assignment(
            os.path.join(folder, f"{prefix}kmeans_assignment.csv"), store.ids, assignment, labels
        )
        written["kmeans_types"] = len(clusters)
    return written


def ddp_train_sampler(loader_opts, dataset):
    """Training loader options under torchrun: the one-process order, split.

    Without a sampler, SpeechBrain's Brain gives each DDP process a
    ``DistributedSampler`` that shuffles with its own seed even when the YAML
    says ``shuffle: False``, so the examples seen at each step differ from a
    one-process run. Here the sampler one process would use (SpeechBrain's
    ``ReproducibleRandomSampler`` with the same seed when shuffling, else the
    dataset order) is given explicitly with ``shuffle`` off; Brain wraps it in a
    ``DistributedSamplerWrapper`` that hands process ``r`` of ``W`` positions
    ``r, r+W, ...`` of that order (re-drawn every epoch). With a per-process
    batch of ``B/W``, step ``k`` of the ``W`` processes together sees exactly
    the examples of step ``k`` of one process with batch ``B`` (when ``W``
    divides the number of examples). Outside torchrun, or with a sampler
    already given, the options are returned unchanged.
    """
    if "RANK" not in os.environ or "LOCAL_RANK" not in os.environ:
        return loader_opts
    if loader_opts.get("sampler") is not None or loader_opts.get("batch_sampler") is not None:
        return loader_opts
    from speechbrain.dataio.sampler import ReproducibleRandomSampler

    opts = dict(loader_opts)
    if opts.pop("shuffle", False):
        seed = int(os.environ.get("SB_GLOBAL_SEED", 563375142))  # Brain's one-process default
        opts["sampler"] = ReproducibleRandomSampler(dataset, seed=seed)
    else:
        opts["sampler"] = torch.utils.data.SequentialSampler(dataset)
    opts["shuffle"] = False
    return opts


def run_speech2vec(hparams, run_opts):
    """The recipe: features, training (resumable), export. Returns a summary dict.

    ``hparams`` is the loaded YAML (see ``recipes/Bible/speech2vec/hparams``).
    """
    if hparams.get("cpu_threads"):
        torch.set_num_threads(int(hparams["cpu_threads"]))
    train_csv = hparams["train_csv"]
    valid_csv = hparams.get("valid_csv")
    if not os.path.exists(train_csv):
        raise FileNotFoundError(
            f"{train_csv}: training manifest not found; run the dataset's prepare "
            "script first or pass --train_csv"
        )
    if valid_csv and not os.path.exists(valid_csv):
        logger.warning("%s not found; training without validation", valid_csv)
        valid_csv = None
    if hparams.get("segmentation", "words") == "equal_chunks":
        manifests = []
        for csv_path in [train_csv] + ([valid_csv] if valid_csv else []):
            chunks = equal_chunks(read_segment_manifest(csv_path), source=csv_path)
            out = os.path.join(
                hparams["save_folder"], "equal_chunks_" + os.path.basename(csv_path)
            )
            sb.utils.distributed.run_on_main(write_segment_manifest, args=(chunks, out))
            manifests.append(out)
        train_csv, valid_csv = manifests[0], (manifests[1] if valid_csv else None)
    elif hparams.get("segmentation", "words") != "words":
        raise ValueError(f"segmentation must be 'words' or 'equal_chunks', got {hparams['segmentation']!r}")

    manifests = [train_csv] + ([valid_csv] if valid_csv else [])
    progress = not run_opts.get("noprogressbar", False)
    stores, rows, extractor = prepare_stores(hparams, manifests, progress)
    model = hparams["modules"]["speech2vec"]
    if stores[0].dim != model.input_size:
        raise ValueError(
            f"features have {stores[0].dim} dimensions but the model's input_size is "
            f"{model.input_size}; fix n_feats in the YAML"
        )
    if sb.utils.distributed.if_main_process():
        extractor.save(os.path.join(hparams["save_folder"], "feature_extractor.json"))
    train_set, train_stats = make_loader_dataset(
        hparams, stores[0], rows[0], train_csv, hparams.get("seed", 0)
    )
    valid_set = None
    if valid_csv:
        valid_set, _ = make_loader_dataset(hparams, stores[1], rows[1], valid_csv, subsample=False)
    logger.info("training examples: %s", train_stats)

    brain = Speech2VecBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.has_valid = valid_set is not None
    if hasattr(brain.checkpointer, "track_rng"):  # the neighbour draw resumes exactly
        brain.checkpointer.track_rng("context_sampler", train_set.context_rng)
    collate = Speech2VecCollate(stores[0])
    loader_opts = dict(hparams.get("dataloader_options", {}), collate_fn=collate)
    train_opts = ddp_train_sampler(loader_opts, train_set)
    valid_opts = {}
    if valid_set is not None:
        valid_opts = dict(loader_opts, shuffle=False, collate_fn=Speech2VecCollate(stores[1]))
    start = time.time()
    brain.fit(
        hparams["epoch_counter"],
        train_set,
        valid_set,
        train_loader_kwargs=train_opts,
        valid_loader_kwargs=valid_opts,
    )
    train_seconds = time.time() - start
    summary = {"train_examples": train_stats, "train_seconds": round(train_seconds, 1),
               "train_segments": len(stores[0]), "skipped": stores[0].skipped}
    if not sb.utils.distributed.if_main_process():
        return summary
    if brain.checkpointer is not None:
        brain.checkpointer.recover_if_possible(min_key="loss")
    folder = hparams.get("vectors_folder", os.path.join(hparams["output_folder"], "vectors"))
    summary["export"] = export_vectors(
        brain,
        stores[0],
        rows[0],
        folder,
        num_clusters=hparams.get("kmeans_clusters"),
        kmeans_seed=hparams.get("seed", 1234),
        batch_size=hparams.get("export_batch_size", 256),
    )
    for extra_csv in hparams.get("export_csvs") or []:
        extra_stores, extra_rows, _ = prepare_stores(hparams, [train_csv, extra_csv], progress)
        prefix = os.path.splitext(os.path.basename(extra_csv))[0] + "_"
        summary["export_" + prefix] = export_vectors(
            brain, extra_stores[1], extra_rows[1], folder, prefix=prefix,
            batch_size=hparams.get("export_batch_size", 256),
        )
    write_json(os.path.join(hparams["output_folder"], "speech2vec_summary.json"), summary)
    return summary
