"""Training examples for Speech2Vec: each centre segment with its neighbours.

Neighbours come from utterance order (manifest ``utt_id`` + ``position``): the
segments of the same utterance whose position differs from the centre's by
1..``window``. One example = one centre and all its neighbours; the skip-gram
objective decodes every (centre, neighbour) pair of it, CBOW decodes the
centre once from the neighbours' mean vector. Utterances with a single word
give no example (counted, with a warning), as do segments missing from the
feature store (e.g. skipped as too short).

Batches come from a SpeechBrain :class:`~speechbrain.dataio.dataset.DynamicItemDataset`
whose pipeline returns segment numbers (drawing the neighbours used), collated
by :class:`Speech2VecCollate`, which gathers the frames from the in-memory
:class:`FeatureStore` tensor and pads them in one vectorised operation, with
SpeechBrain's relative lengths.

Why not :class:`speechbrain.dataio.batch.PaddedBatch`: measured with
``benchmarks/speech2vec_throughput.py --synthetic_segments 5000 --collate
{store,padded_batch}`` (CPU, 1 thread, speech2vec_fast.yaml, batch 64, machine
load ~3.8 on 2 cores), PaddedBatch over the segments' frame views spent
3.7 ms/step collating vs 1.7 ms for this collate (step 42-47 vs 41-43 ms) with
``max_contexts: 2``, and 7.2 vs 1.9 ms/step (step 104 vs 94 ms, 10 % of the
training time) with all neighbours decoded (the paper's setting); on a GPU,
where the step itself is short, the difference is a larger share.
"""

import logging
import random

import torch

from speechbrain_align.dataio.manifest import group_by_utterance

logger = logging.getLogger(__name__)


def build_examples(rows, window, available=None, source="manifest"):
    """Centre -> neighbours lists from manifest rows.

    Arguments
    ---------
    rows : list of dict
        Manifest rows (``ID``, ``utt_id``, ``position``).
    window : int
        Neighbours are at most ``window`` positions away (both sides).
    available : set or dict, optional
        Segment ids that have features; others are ignored as centres and
        as neighbours (positions are kept, so a gap stays a gap).
    source : str
        Name used in warnings.

    Returns
    -------
    examples : list of (centre_id, [neighbour ids])
    stats : dict
        ``utterances``, ``single_word_utterances`` (no neighbours),
        ``isolated_segments`` (no neighbour within the window),
        ``skipgram_pairs``, ``cbow_examples``.

    Example
    -------
    >>> rows = [dict(ID=f"u_{i}", utt_id="u", position=i) for i in range(5)]
    >>> rows.append(dict(ID="v_0", utt_id="v", position=0))
    >>> ex, st = build_examples(rows, window=2)
    >>> ex[0], st["skipgram_pairs"], st["cbow_examples"], st["single_word_utterances"]
    (('u_0', ['u_1', 'u_2']), 14, 5, 1)
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    stats = {
        "utterances": 0,
        "single_word_utterances": 0,
        "isolated_segments": 0,
        "skipgram_pairs": 0,
        "cbow_examples": 0,
    }
    examples = []
    for utt_rows in group_by_utterance(rows).values():
        stats["utterances"] += 1
        present = [r for r in utt_rows if available is None or r["ID"] in available]
        if len(utt_rows) < 2:
            stats["single_word_utterances"] += 1
            continue
        for i, centre in enumerate(present):
            neighbours = []
            # Rows are sorted by position; scan outwards on both sides.
            for j in range(i - 1, -1, -1):
                if centre["position"] - present[j]["position"] > window:
                    break
                neighbours.append(present[j]["ID"])
            neighbours.reverse()
            for j in range(i + 1, len(present)):
                if present[j]["position"] - centre["position"] > window:
                    break
                neighbours.append(present[j]["ID"])
            if not neighbours:
                stats["isolated_segments"] += 1
                continue
            examples.append((centre["ID"], neighbours))
            stats["skipgram_pairs"] += len(neighbours)
            stats["cbow_examples"] += 1
    if stats["single_word_utterances"]:
        logger.warning(
            "%s: %d of %d utterances have one word and no neighbours; skipped",
            source, stats["single_word_utterances"], stats["utterances"],
        )
    if stats["isolated_segments"]:
        logger.warning(
            "%s: %d segments have no neighbour with features within window %d; skipped",
            source, stats["isolated_segments"], window,
        )
    return examples, stats


class Speech2VecBatch:
    """A padded batch: centres, their neighbours stacked, and the owner index.

    Attributes: ``ids`` (centre ids), ``centre`` ``(B, T, F)``, ``centre_lens``
    ``(B,)``, ``context`` ``(P, T', F)``, ``context_lens`` ``(P,)``, ``owner``
    ``(P,)`` (index of each neighbour's centre). Lengths are relative to the
    padded length (SpeechBrain convention).
    """

    def __init__(self, ids, centre, centre_lens, context, context_lens, owner):
        self.ids = ids
        self.centre = centre
        self.centre_lens = centre_lens
        self.context = context
        self.context_lens = context_lens
        self.owner = owner

    _tensors = ("centre", "centre_lens", "context", "context_lens", "owner")

    def to(self, device, non_blocking=True):
        """Move all tensors to ``device``; returns self."""
        for name in self._tensors:
            setattr(self, name, getattr(self, name).to(device, non_blocking=non_blocking))
        return self

    def pin_memory(self):
        """Pin the tensors (used by the DataLoader when ``pin_memory=True``)."""
        for name in self._tensors:
            setattr(self, name, getattr(self, name).pin_memory())
        return self

    def __len__(self):
        return len(self.ids)


def gather_padded(store, indices):
    """Segments ``indices`` of ``store`` as one zero-padded batch, in one gather.

    Equivalent to SpeechBrain's ``batch_pad_right`` over ``store.segment(i)``
    but done with a single ``index_select`` on the in-memory frame tensor
    (``batch_pad_right`` pads tensor by tensor and was the main data cost).

    Returns ``(padded (n, T, F), lengths (n,))`` with lengths relative to
    ``T`` (SpeechBrain convention, as ``batch_pad_right`` gives them).

    Example
    -------
    >>> from speechbrain_align.speech.features import FeatureStore
    >>> store = FeatureStore(["a", "b"], [0, 1, 3], torch.tensor([[1.], [2.], [3.]]))
    >>> padded, lens = gather_padded(store, [1, 0])
    >>> padded[..., 0].tolist(), lens.tolist()
    ([[2.0, 3.0], [1.0, 0.0]], [1.0, 0.5])
    """
    idx = torch.as_tensor(indices, dtype=torch.long)
    lengths = store.lengths[idx]
    steps = torch.arange(int(lengths.max()))
    mask = steps.unsqueeze(0) < lengths.unsqueeze(1)
    frames = store.starts[idx].unsqueeze(1) + steps.unsqueeze(0)
    frames = torch.where(mask, frames, torch.zeros_like(frames))
    padded = store.feats.index_select(0, frames.reshape(-1))
    padded = padded.view(len(idx), len(steps), store.dim)
    padded.mul_(mask.unsqueeze(-1).to(padded.dtype))
    return padded, lengths.float() / len(steps)


class Speech2VecCollate:
    """Collate function: items from :func:`make_dataset` -> :class:`Speech2VecBatch`.

    Arguments
    ---------
    store : FeatureStore
        The features the items' indices point into.
    """

    def __init__(self, store):
        self.store = store

    def __call__(self, items):
        ids = [item["id"] for item in items]
        centre, centre_lens = gather_padded(self.store, [item["centre_index"] for item in items])
        contexts, owner = [], []
        for b, item in enumerate(items):
            contexts.extend(item["context_indices"])
            owner.extend([b] * len(item["context_indices"]))
        context, context_lens = gather_padded(self.store, contexts)
        return Speech2VecBatch(
            ids, centre, centre_lens, context, context_lens, torch.tensor(owner)
        )


def make_dataset(examples, store, max_contexts=None, seed=0):
    """A DynamicItemDataset of examples whose items are feature views.

    Arguments
    ---------
    examples : list of (centre_id, [neighbour ids])
        From :func:`build_examples`.
    store : FeatureStore
        Normalised features in memory.
    max_contexts : int, optional
        Use at most this many neighbours of each centre per visit, drawn at
        random each time (fewer decodings per step; all are used over epochs).
    seed : int
        Seed of that draw.

    Returns
    -------
    DynamicItemDataset with output keys ``id``, ``centre_index`` and
    ``context_indices`` (segment numbers in ``store``); batch it with
    ``Speech2VecCollate(store)``, which gathers and pads the frames. Its
    ``context_rng`` attribute is the generator of the neighbour draw.
    """
    from speechbrain.dataio.dataset import DynamicItemDataset
    from speechbrain.utils.data_pipeline import provides, takes

    data = {}
    for centre, neighbours in examples:
        data[centre] = {
            "centre": store.index[centre],
            "contexts": [store.index[n] for n in neighbours],
        }
    rng = random.Random(seed)

    @takes("centre", "contexts")
    @provides("centre_index", "context_indices")
    def pipeline(centre, contexts):
        yield centre
        if max_contexts is not None and len(contexts) > max_contexts:
            contexts = rng.sample(contexts, max_contexts)
        yield contexts

    dataset = DynamicItemDataset(
        data, dynamic_items=[pipeline], output_keys=["id", "centre_index", "context_indices"]
    )
    dataset.context_rng = rng  # checkpointed (SafeCheckpointer.track_rng): exact resume
    return dataset
