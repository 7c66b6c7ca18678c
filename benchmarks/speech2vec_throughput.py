#!/usr/bin/env python3
"""Speech2Vec training throughput and the share of each step spent waiting for data.

Runs the recipe's own pieces (FeatureStore in memory, DynamicItemDataset,
DataLoader with the YAML's options, Speech2VecBrain.fit_batch with its
optimiser and precision) for a number of steps and prints

* segments/second (centre segments trained per second), decoded segments/s
  and frames/s;
* the share of step time spent in the DataLoader's ``next()`` (data waiting);
* for CUDA, times are taken after ``torch.cuda.synchronize()``.

Without ``--train_csv`` it builds a synthetic corpus of tone "words" (default
25,000 segments) in ``--work_folder`` once, and caches its features there.

Examples::

    python benchmarks/speech2vec_throughput.py                      # CPU, fast config
    python benchmarks/speech2vec_throughput.py --threads 2
    python benchmarks/speech2vec_throughput.py --device cuda --precision bf16 \\
        --override "batch_size: 256"
    python benchmarks/speech2vec_throughput.py --train_csv data/bible/speech/train.csv
    python benchmarks/speech2vec_throughput.py --collate padded_batch   # SpeechBrain's PaddedBatch
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import soundfile
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_HPARAMS = os.path.join(REPO, "recipes", "Bible", "speech2vec", "hparams", "speech2vec_fast.yaml")
RATE = 16000


def tone_word(word, rng):
    """A synthetic spoken 'word': two tones and an envelope specific to ``word``."""
    f1, f2 = 150 + 60 * (word % 20), 800 + 150 * (word // 20)
    dur = (0.15 + 0.03 * (word % 9)) * rng.uniform(0.85, 1.15)
    t = np.arange(int(dur * RATE)) / RATE
    env = np.sin(np.pi * t / dur) ** (1 + word % 3)
    sig = env * (np.sin(2 * np.pi * f1 * t) + 0.5 * np.sin(2 * np.pi * f2 * t))
    return 0.3 * sig + 0.01 * rng.randn(len(t))


def make_tone_corpus(folder, num_segments=25000, vocab=200, words_per_utt=10, seed=0):
    """Write utterances of tone words (a Markov chain over ``vocab`` words) and a manifest.

    Returns the manifest path; does nothing if it exists with the same settings.
    """
    from speechbrain_align.dataio.manifest import Segment, write_segment_manifest
    from speechbrain_align.utils.files import already_prepared, atomic_save, mark_prepared

    manifest = os.path.join(folder, "train.csv")
    options = dict(num_segments=num_segments, vocab=vocab, words_per_utt=words_per_utt, seed=seed)
    if already_prepared([manifest], options):
        return manifest
    rng = np.random.RandomState(seed)
    os.makedirs(os.path.join(folder, "wav"), exist_ok=True)
    segments, u = [], 0
    while len(segments) < num_segments:
        utt = f"spk{u % 20:02d}_u{u:05d}"
        wav = os.path.join(folder, "wav", utt + ".flac")
        pieces, pos, w = [np.zeros(int(0.1 * RATE))], 0.1, rng.randint(vocab)
        n = min(words_per_utt + rng.randint(-3, 4), num_segments - len(segments))
        for p in range(max(n, 1)):
            sig = tone_word(w, rng)
            segments.append(Segment(wav, pos, pos + len(sig) / RATE, f"w{w}", utt[:5], utt, p))
            gap = np.zeros(int(rng.uniform(0.01, 0.08) * RATE))
            pieces += [sig, gap]
            pos += (len(sig) + len(gap)) / RATE
            w = (w + rng.choice([1, 2, 3])) % vocab
        audio = np.concatenate(pieces).astype("float32")
        atomic_save(wav, lambda path, a=audio: soundfile.write(path, a, RATE, format="FLAC"))
        u += 1
    write_segment_manifest(segments, manifest)
    mark_prepared([manifest], options)
    return manifest


class PaddedBatchCollate:
    """The alternative measured against Speech2VecCollate: SpeechBrain's PaddedBatch
    (``batch_pad_right``) over the centres' and the neighbours' frame views."""

    def __init__(self, store):
        self.store = store

    def __call__(self, items):
        from speechbrain.dataio.batch import PaddedBatch

        from speechbrain_align.speech.pairs import Speech2VecBatch

        centres = PaddedBatch([{"f": self.store.segment(it["centre_index"])} for it in items])
        contexts = PaddedBatch([{"f": self.store.segment(j)} for it in items
                                for j in it["context_indices"]])
        owner = torch.tensor([b for b, it in enumerate(items) for _ in it["context_indices"]])
        return Speech2VecBatch([it["id"] for it in items], centres.f.data, centres.f.lengths,
                               contexts.f.data, contexts.f.lengths, owner)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hparams", default=DEFAULT_HPARAMS)
    parser.add_argument("--train_csv", help="a segment manifest (default: synthetic corpus)")
    parser.add_argument("--work_folder", default=os.path.join(REPO, "results", "bench_speech2vec"))
    parser.add_argument("--synthetic_segments", type=int, default=25000)
    parser.add_argument("--steps", type=int, default=60, help="timed steps")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--override", action="append", default=[],
                        help="YAML override, e.g. 'batch_size: 128' (repeatable)")
    parser.add_argument("--collate", default="store", choices=["store", "padded_batch"],
                        help="store: Speech2VecCollate (one gather from the FeatureStore); "
                        "padded_batch: speechbrain.dataio.batch.PaddedBatch over segment views")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from hyperpyyaml import load_hyperpyyaml

    from speechbrain_align.speech.pairs import Speech2VecCollate
    from speechbrain_align.speech.speech2vec_brain import (
        Speech2VecBrain,
        make_loader_dataset,
        prepare_stores,
    )

    import speechbrain as sb

    train_csv = args.train_csv or make_tone_corpus(
        os.path.join(args.work_folder, "corpus"), args.synthetic_segments
    )
    overrides = "\n".join(
        [f"train_csv: {train_csv}", "valid_csv: null",
         f"output_folder: {os.path.join(args.work_folder, 'run')}",
         f"feature_cache: {os.path.join(args.work_folder, 'feature_cache')}"] + args.override
    )
    with open(args.hparams, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle, overrides)

    t0 = time.time()
    stores, rows, _ = prepare_stores(hparams, [train_csv])
    feature_seconds = time.time() - t0
    dataset, stats = make_loader_dataset(hparams, stores[0], rows[0], train_csv)
    brain = Speech2VecBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": args.device, "precision": args.precision, "noprogressbar": True},
    )
    collate = (Speech2VecCollate if args.collate == "store" else PaddedBatchCollate)(stores[0])
    loader_opts = dict(hparams.get("dataloader_options", {}), collate_fn=collate)
    if args.device.startswith("cuda"):
        loader_opts.setdefault("pin_memory", True)
    loader = brain.make_dataloader(dataset, sb.Stage.TRAIN, **loader_opts)
    brain.on_fit_start()
    brain.modules.train()
    cuda = args.device.startswith("cuda")

    def sync():
        if cuda:
            torch.cuda.synchronize()

    iterator = iter(loader)
    wait = total = 0.0
    segments = decoded = frames = 0
    for step in range(args.warmup + args.steps):
        sync()
        start = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            batch = next(iterator)
        got = time.perf_counter()
        brain.fit_batch(batch)
        sync()
        end = time.perf_counter()
        if step >= args.warmup:
            wait += got - start
            total += end - start
            segments += len(batch)
            decoded += len(batch.context_lens)
            frames += int(round(float(batch.centre_lens.sum()) * batch.centre.shape[1]
                                + float(batch.context_lens.sum()) * batch.context.shape[1]))
    examples_per_epoch = len(dataset)
    result = {
        "device": args.device if not cuda else torch.cuda.get_device_name(),
        "precision": args.precision,
        "collate": args.collate,
        "threads": args.threads,
        "train_segments": len(stores[0]),
        "examples_per_epoch": examples_per_epoch,
        "skipgram_pairs": stats["skipgram_pairs"],
        "objective": hparams["objective"],
        "batch_size": hparams["batch_size"],
        "max_contexts": hparams.get("max_contexts"),
        "feature_seconds": round(feature_seconds, 1),
        "segments_per_second": round(segments / total, 1),
        "decoded_segments_per_second": round(decoded / total, 1),
        "frames_per_second": round(frames / total, 1),
        "data_wait_share": round(wait / total, 4),
        "step_ms": round(1000 * total / args.steps, 2),
        "data_ms": round(1000 * wait / args.steps, 2),
        "epoch_seconds_estimate": round(examples_per_epoch * total / segments, 1),
    }
    for key, value in result.items():
        print(f"{key:28s} {value}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
