"""Adversarial training of a linear mapping as a SpeechBrain ``Brain``.

A discriminator learns to tell mapped source vectors from target vectors
(both drawn from the ``max_rank`` most frequent words); the mapping learns
to fool it and is kept near-orthogonal after every update (Conneau et al.,
2018). An "epoch" is ``epoch_size`` iterations; after each one the
unsupervised criterion is computed, the mapping's learning rate is decayed
(and shrunk when the criterion got worse than its best), statistics are
logged and a checkpoint is saved. The checkpoint with the best criterion is
kept and reloaded by :meth:`AdversarialAligner.load_best`.
"""

import logging
import time

import numpy as np
import speechbrain as sb
import torch
from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, register_checkpoint_hooks

from speechbrain_align.alignment.criterion import mean_cosine_criterion
from speechbrain_align.alignment.fused_steps import FusedSteps, fused_support

logger = logging.getLogger(__name__)


class BatchSampler(torch.utils.data.Dataset):
    """One item per training iteration: the word ids of its batches.

    Item ``i`` of epoch ``e`` is drawn from a generator seeded with
    ``(seed, e, i)``, so a resumed run sees the same batches as an
    uninterrupted one.

    Arguments
    ---------
    n_iterations : int
        Items (iterations) per epoch.
    batch_size : int
    dis_steps : int
        Discriminator updates per iteration.
    src_rank, tgt_rank : int
        Words are drawn uniformly among the first ``*_rank`` rows.
    seed : int
    mask_dim : int, optional
        Also draw ``uniform`` values ``(dis_steps, 2 * batch_size, mask_dim)``
        in [0, 1): the input dropout masks of the fused updates.

    Example
    -------
    >>> s = BatchSampler(3, batch_size=4, dis_steps=2, src_rank=10, tgt_rank=20)
    >>> item = s[0]
    >>> item["src"].shape, item["tgt"].shape, int(item["src"].max()) < 10
    (torch.Size([3, 4]), torch.Size([2, 4]), True)
    >>> bool((s[1]["src"] == BatchSampler(3, 4, 2, 10, 20)[1]["src"]).all())
    True
    """

    def __init__(self, n_iterations, batch_size, dis_steps, src_rank, tgt_rank, seed=0,
                 mask_dim=None):
        self.n_iterations = int(n_iterations)
        self.mask_dim = mask_dim
        self.batch_size, self.dis_steps = int(batch_size), int(dis_steps)
        self.src_rank, self.tgt_rank = int(src_rank), int(tgt_rank)
        self.seed, self.epoch = int(seed), 0

    def set_epoch(self, epoch):
        """Select the epoch whose batches are drawn."""
        self.epoch = int(epoch)

    def __len__(self):
        return self.n_iterations

    def __getitem__(self, i):
        # (seed, epoch, i) -> distinct seeds: i < 2**32 and epoch < 2**20 never collide
        g = torch.Generator().manual_seed(
            ((self.seed * 2**20 + self.epoch) * 2**32 + int(i)) % (2**63)
        )
        src = torch.randint(self.src_rank, (self.dis_steps + 1, self.batch_size), generator=g)
        tgt = torch.randint(self.tgt_rank, (self.dis_steps, self.batch_size), generator=g)
        item = {"src": src, "tgt": tgt}
        if self.mask_dim:
            shape = (self.dis_steps, 2 * self.batch_size, self.mask_dim)
            item["uniform"] = torch.rand(shape, generator=g)
        return item


@register_checkpoint_hooks
class PlateauDecay:
    """Learning-rate schedule of the mapping: decay each epoch, shrink on plateau.

    After each epoch ``lr <- max(min_lr, lr * decay)``; if the criterion is
    below the best seen so far, ``lr <- lr * shrink`` as well.

    Example
    -------
    >>> s = PlateauDecay(0.1, decay=0.5, shrink=0.1)
    >>> s.step(0.3), s.step(0.4), round(s.step(0.2), 6)
    (0.05, 0.025, 0.00125)
    """

    def __init__(self, lr, decay=0.98, shrink=0.5, min_lr=1e-6):
        self.lr, self.decay, self.shrink, self.min_lr = float(lr), decay, shrink, min_lr
        self.best = None

    def step(self, criterion):
        """Update with this epoch's criterion; returns the new learning rate."""
        self.lr = max(self.min_lr, self.lr * self.decay)
        if self.best is not None and criterion < self.best:
            self.lr = max(self.min_lr, self.lr * self.shrink)
        if self.best is None or criterion > self.best:
            self.best = criterion
        return self.lr

    @mark_as_saver
    def _save(self, path):
        torch.save({"lr": self.lr, "best": self.best}, path)

    @mark_as_loader
    def _recover(self, path, end_of_epoch=True):
        state = torch.load(path)
        self.lr, self.best = state["lr"], state["best"]


class AdversarialAligner(sb.Brain):
    """Brain that trains ``modules.mapping`` against ``modules.discriminator``.

    Expected hparams: ``map_opt_class``, ``dis_opt_class`` (optimizer
    factories), ``lr_schedule`` (:class:`PlateauDecay`), ``dis_steps``,
    ``smoothing``, ``map_beta``, ``map_orthogonalize`` (``iterative``: the
    beta update; ``svd``: exact projection to the nearest orthogonal matrix), ``dis_clip_weights``, ``criterion_words``,
    ``csls_k``, ``train_logger`` (optional), ``fused_updates`` (optional:
    compute the updates with :class:`~.fused_steps.FusedSteps` instead of
    autograd where it supports the modules, optimizers and device).

    Use :meth:`train_mapping` rather than ``fit`` directly: it stores the
    embeddings on the device and builds the batch sampler.

    ``fit_batch`` steps its two optimizers itself, in turn (``dis_steps``
    discriminator updates, then one mapping update), as SpeechBrain's own GAN
    recipes (HiFi-GAN) do: Brain's default ``fit_batch`` makes one backward
    pass of one objective and steps every optimizer on it.
    """

    def train_mapping(self, src, tgt, epoch_counter, epoch_size, batch_size, max_rank, seed=0):
        """Train on normalised ``src``/``tgt`` (numpy, rows by frequency)."""
        self.src_np = np.ascontiguousarray(src, dtype=np.float32)
        self.tgt_np = np.ascontiguousarray(tgt, dtype=np.float32)
        self.src_emb = torch.as_tensor(self.src_np, device=self.device)
        self.tgt_emb = torch.as_tensor(self.tgt_np, device=self.device)
        fused = bool(getattr(self.hparams, "fused_updates", False))
        self.sampler = BatchSampler(
            epoch_size, batch_size, self.hparams.dis_steps,
            min(max_rank, len(src)), min(max_rank, len(tgt)), seed,
            mask_dim=src.shape[1] if fused else None,
        )
        loader = torch.utils.data.DataLoader(self.sampler, batch_size=None, shuffle=False)
        self.history = []
        self.fit(epoch_counter, loader)

    def init_optimizers(self):
        """One optimizer for the mapping, one for the discriminator."""
        self.map_optimizer = self.hparams.map_opt_class(self.modules.mapping.parameters())
        self.dis_optimizer = self.hparams.dis_opt_class(self.modules.discriminator.parameters())
        self.optimizers_dict = {"mapping": self.map_optimizer, "discriminator": self.dis_optimizer}
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("map_optimizer", self.map_optimizer)
            self.checkpointer.add_recoverable("dis_optimizer", self.dis_optimizer)

    def on_fit_start(self):
        """Optimizers and checkpoint as usual; then the fused updates, where supported."""
        super().on_fit_start()
        self._fused = None
        if getattr(self.hparams, "fused_updates", False):
            why = "distributed training" if self.distributed_launch else fused_support(
                self.modules.discriminator, self._mapping(),
                [self.map_optimizer, self.dis_optimizer],
            )
            if why is None:
                self._fused = FusedSteps(self.modules.discriminator, self._mapping())
            else:
                logger.info("fused_updates: autograd instead (%s)", why)

    def _orthogonalize(self):
        """Pull the mapping back to (or towards) the orthogonal matrices after an update."""
        if getattr(self.hparams, "map_orthogonalize", "iterative") == "svd":
            self._mapping().project_orthogonal()
        else:
            self._mapping().orthogonalize(float(self.hparams.map_beta))

    def _mapping(self):
        mapping = self.modules.mapping
        return mapping.module if hasattr(mapping, "module") else mapping

    def fit_batch(self, batch):
        """``dis_steps`` discriminator updates, then one mapping update."""
        if getattr(self, "_fused", None) is not None:
            return self._fit_batch_fused(batch)
        src_ids, tgt_ids = batch["src"].to(self.device), batch["tgt"].to(self.device)
        smooth = float(self.hparams.smoothing)
        dis, mapping = self.modules.discriminator, self.modules.mapping
        dis.train()
        dis_loss = 0.0
        for step in range(len(tgt_ids)):
            with torch.no_grad():
                fake = mapping(self.src_emb[src_ids[step]])
            real = self.tgt_emb[tgt_ids[step]]
            logits = dis(torch.cat([fake, real]))
            # label 1 = "a target vector"; smoothed
            labels = torch.cat(
                [torch.full((len(fake),), smooth), torch.full((len(real),), 1.0 - smooth)]
            ).to(self.device)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            self.dis_optimizer.zero_grad()
            loss.backward()
            self.dis_optimizer.step()
            clip = float(getattr(self.hparams, "dis_clip_weights", 0) or 0)
            if clip > 0:
                with torch.no_grad():
                    for p in dis.parameters():
                        p.clamp_(-clip, clip)
            with torch.no_grad():
                pred = logits > 0
                self._correct += int((~pred[: len(fake)]).sum() + pred[len(fake) :].sum())
                self._seen += len(logits)
            dis_loss += float(loss.detach())
        # mapping update: make mapped source words look like target words
        dis.eval()
        fake = mapping(self.src_emb[src_ids[-1]])
        logits = dis(fake)
        labels = torch.full((len(fake),), 1.0 - smooth, device=self.device)
        map_loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        self.map_optimizer.zero_grad()
        map_loss.backward()
        self.map_optimizer.step()
        self._orthogonalize()
        self._map_loss += float(map_loss.detach())
        return torch.tensor(dis_loss / max(1, len(tgt_ids)))

    def _fit_batch_fused(self, batch):
        """The same updates as :meth:`fit_batch`, by :class:`FusedSteps` (numpy, CPU)."""
        src_ids, tgt_ids = batch["src"].numpy(), batch["tgt"].numpy()
        uniform = batch["uniform"].numpy()
        smooth = float(self.hparams.smoothing)
        dis_lr = self.dis_optimizer.param_groups[0]["lr"]
        map_lr = self.map_optimizer.param_groups[0]["lr"]
        fused, w = self._fused, self._fused.map_weight
        clip = float(getattr(self.hparams, "dis_clip_weights", 0) or 0)
        dis_loss = 0.0
        for step in range(len(tgt_ids)):
            fake = self.src_np[src_ids[step]] @ w.T
            loss, correct = fused.discriminator_step(
                fake, self.tgt_np[tgt_ids[step]], uniform[step], smooth, dis_lr
            )
            if clip > 0:
                for layer in fused.layers:
                    for p in layer:
                        np.clip(p, -clip, clip, out=p)
            self._correct += correct
            self._seen += len(fake) + len(tgt_ids[step])
            dis_loss += loss
        self._map_loss += fused.mapping_step(self.src_np[src_ids[-1]], smooth, map_lr)
        self._orthogonalize()
        return torch.tensor(dis_loss / max(1, len(tgt_ids)))

    def on_stage_start(self, stage, epoch=None):
        """Reset the epoch statistics and select the epoch's batches."""
        self._correct = self._seen = 0
        self._map_loss = 0.0
        self._start = time.time()
        if stage == sb.Stage.TRAIN and epoch is not None:
            self.sampler.set_epoch(epoch)
            for group in self.map_optimizer.param_groups:
                group["lr"] = self.hparams.lr_schedule.lr

    def current_mapping(self):
        """The mapping matrix as a float32 numpy array ``(tgt_dim, src_dim)``."""
        return self._mapping().weight.detach().cpu().numpy().astype(np.float32)

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Criterion, learning-rate update, log line and checkpoint."""
        if stage != sb.Stage.TRAIN:
            return
        w = self.current_mapping()
        criterion = mean_cosine_criterion(
            self.src_np @ w.T, self.tgt_np, self.hparams.criterion_words, self.hparams.csls_k
        )
        old_lr = self.hparams.lr_schedule.lr
        new_lr = self.hparams.lr_schedule.step(criterion)
        ortho = float(np.abs(w @ w.T - np.eye(len(w))).max()) if w.shape[0] <= w.shape[1] else None
        n_iter = max(1, len(self.sampler))
        stats = {
            "dis_loss": float(stage_loss),
            "dis_acc": self._correct / max(1, self._seen),
            "map_loss": self._map_loss / n_iter,
            "criterion": criterion,
            "seconds": time.time() - self._start,
        }
        if ortho is not None:
            stats["orthogonality_error"] = ortho
        self.history.append({"epoch": epoch, "lr": old_lr, **stats})
        logger.info("adversarial epoch %s: %s", epoch, stats)
        train_logger = getattr(self.hparams, "train_logger", None)
        if train_logger is not None:
            train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": old_lr, "next_lr": new_lr},
                train_stats=stats,
            )
        if self.checkpointer is not None:
            self.checkpointer.save_and_keep_only(
                meta={"criterion": criterion, "epoch": epoch}, max_keys=["criterion"]
            )

    def load_best(self):
        """Reload the checkpoint with the highest criterion; returns its criterion."""
        if self.checkpointer is None:
            return None
        ckpt = self.checkpointer.recover_if_possible(max_key="criterion")
        return None if ckpt is None else ckpt.meta.get("criterion")
