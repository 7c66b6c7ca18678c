"""Contrastive AWE route with SpeechBrain's Brain: a Siamese encoder on mined pairs.

:func:`train_contrastive` fits :class:`~speechbrain_align.nnet.awe.PairEncoder`
(YAML ``modules``) on cross-speaker pairs, with the Checkpointer and epoch
counter of the YAML (a killed run resumes at its last epoch), then embeds
every segment. See :mod:`speechbrain_align.nnet.awe` for why it is not the
default route.
"""

import logging

import numpy as np
import speechbrain as sb
import torch

from speechbrain_align.nnet.awe import info_nce

logger = logging.getLogger(__name__)


class PairBatch:
    """Two ``(batch, d)`` tensors of paired segment vectors (pinnable, movable)."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def to(self, device, non_blocking=True):
        """The batch on ``device``."""
        return PairBatch(self.first.to(device, non_blocking=non_blocking),
                         self.second.to(device, non_blocking=non_blocking))

    def pin_memory(self):
        """Pinned copy."""
        return PairBatch(self.first.pin_memory(), self.second.pin_memory())


class PairCollate:
    """Collate pair index rows into a :class:`PairBatch`; random order inside each pair."""

    def __init__(self, vectors, seed=0):
        self.vectors = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        self.generator = torch.Generator().manual_seed(int(seed))

    def __call__(self, items):
        pairs = torch.as_tensor(np.asarray(items, dtype=np.int64))
        swap = torch.rand(len(pairs), generator=self.generator) < 0.5
        pairs = torch.where(swap[:, None], pairs.flip(1), pairs)
        return PairBatch(self.vectors[pairs[:, 0]], self.vectors[pairs[:, 1]])


class ContrastiveAWEBrain(sb.Brain):
    """InfoNCE over batches of mined pairs; ``modules["encoder"]`` is the encoder."""

    def compute_forward(self, batch, stage):
        """Embed both sides of the pairs."""
        batch = batch.to(self.device)
        return self.modules.encoder(batch.first), self.modules.encoder(batch.second)

    def compute_objectives(self, predictions, batch, stage):
        """Symmetric InfoNCE with in-batch negatives."""
        return info_nce(*predictions, temperature=self.hparams.temperature)

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log the epoch and keep the latest checkpoint."""
        if stage != sb.Stage.TRAIN:
            return
        if getattr(self.hparams, "train_logger", None) is not None:
            self.hparams.train_logger.log_stats({"epoch": epoch}, train_stats={"loss": stage_loss})
        if self.checkpointer is not None:
            self.checkpointer.save_and_keep_only(meta={"loss": stage_loss, "epoch": epoch}, num_to_keep=1)

    @torch.no_grad()
    def embed(self, vectors, batch_size=8192):
        """Embeddings (numpy) of all rows of ``vectors``."""
        self.modules.eval()
        x = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        out = [self.modules.encoder(x[i:i + batch_size].to(self.device)).cpu()
               for i in range(0, len(x), batch_size)]
        return torch.cat(out).numpy()


def train_contrastive(vectors, pairs, hparams, run_opts=None):
    """Fit the encoder of ``hparams`` (``modules``, ``opt_class``, ``checkpointer``,
    ``epoch_counter``, ``temperature``, ``batch_size``, optional ``train_logger``,
    ``seed``) on ``pairs`` of rows of ``vectors``; return the embeddings of all rows.
    """
    brain = ContrastiveAWEBrain(
        modules=hparams["modules"], opt_class=hparams["opt_class"], hparams=hparams,
        run_opts=dict(run_opts or {}), checkpointer=hparams["checkpointer"],
    )
    batch_size = int(hparams["batch_size"])
    loader = {"batch_size": batch_size, "shuffle": True, "drop_last": len(pairs) > batch_size,
              "collate_fn": PairCollate(vectors, hparams.get("seed", 0))}
    brain.fit(hparams["epoch_counter"], [tuple(p) for p in np.asarray(pairs).tolist()],
              train_loader_kwargs=loader)
    return brain.embed(vectors)
