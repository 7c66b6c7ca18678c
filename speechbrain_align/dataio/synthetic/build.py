"""The spoken corpus: passages spoken by speakers in worker processes, manifests, statistics."""

import hashlib
import json
import logging
import multiprocessing
import os
import random
import shutil
import time

import numpy as np

from speechbrain_align.dataio.manifest import Segment, write_segment_manifest
from speechbrain_align.dataio.synthetic.espeak import get_engine, use_private_engine
from speechbrain_align.dataio.synthetic.passages import (
    CorpusError,
    _passage_utterances,
    _safe_id,
    assign_passages,
)
from speechbrain_align.dataio.synthetic.speakers import DEFAULT_SPLITS, make_speakers, split_speakers
from speechbrain_align.dataio.synthetic.timing import SAMPLE_RATE, synthesize_utterance
from speechbrain_align.dataio.tokenize import tokenize
from speechbrain_align.utils.files import already_prepared, atomic_save, mark_prepared, write_json

logger = logging.getLogger(__name__)

#: Bumped whenever the builder's output changes, so finished corpora are rebuilt.
FORMAT_VERSION = 2


def _init_worker():
    """Pool initializer: one torch thread and a fresh espeak-ng in this process."""
    import torch

    torch.set_num_threads(1)
    use_private_engine()


def _synthesize_task(task):
    """Worker: one speaker reading one passage. Writes FLACs, returns rows."""
    import soundfile

    engine = get_engine()
    spk, passage_id, utterances, out_dir, split = task
    rows, failed = [], []
    for k, utt_text in enumerate(utterances):
        tokens = tokenize(utt_text)
        utt_id = f"{spk['spk_id']}_{_safe_id(passage_id)}_{k:03d}"
        engine.set_voice(spk["voice"], spk["rate"], spk["pitch"], spk["range"])
        engine.seed_noise(1 + k)
        result = synthesize_utterance(engine, tokens)
        if result is None:
            failed.append(utt_id)
            continue
        signal, bounds = result
        rel = os.path.join("audio", spk["spk_id"], utt_id + ".flac")
        path = os.path.join(out_dir, rel)
        pcm = np.clip(np.round(signal * 32767.0), -32768, 32767).astype(np.int16)
        atomic_save(
            path,
            lambda p, pcm=pcm: soundfile.write(p, pcm, SAMPLE_RATE, format="FLAC",
                                               subtype="PCM_16"),
        )
        for pos, (tok, (s, e, phones)) in enumerate(zip(tokens, bounds)):
            rows.append({
                "wav": os.path.abspath(path), "start": s / SAMPLE_RATE,
                "stop": e / SAMPLE_RATE, "word": tok, "spk_id": spk["spk_id"],
                "utt_id": utt_id, "position": pos, "phones": " ".join(phones),
                "split": split, "utt_seconds": len(pcm) / SAMPLE_RATE,
            })
    return rows, failed


def _fingerprint(passages):
    digest = hashlib.sha1()
    for pid, text in passages:
        digest.update(str(pid).encode())
        digest.update(b"\0")
        digest.update(json.dumps(text, ensure_ascii=False).encode())
        digest.update(b"\1")
    return digest.hexdigest()


def build_corpus(
    passages,
    out_dir,
    lang="en",
    n_speakers=24,
    splits=DEFAULT_SPLITS,
    seed=1234,
    num_workers=2,
    max_tokens=40,
    progress=True,
):
    """Speak ``passages`` with ``n_speakers`` voices into a segment corpus.

    Arguments
    ---------
    passages : list of (passage_id, text)
        ``text`` is a string (cut into utterances at sentence ends) or a list
        of ``(key, text)`` units, each one utterance (e.g. Bible verses;
        units longer than ``max_tokens`` are cut).
    out_dir : str
        Output folder (see the module docstring for its layout).
    lang : str
        ``"en"`` or ``"es"`` (any espeak-ng language works with one accent).
    n_speakers : int
        Number of distinct speakers (at least the number of splits).
    splits : sequence of (name, fraction or count)
        Speaker-disjoint splits; default 2/3, 1/6, 1/6 (16/4/4 of 24).
    seed : int
        Draws the speakers, their splits and their passages.
    num_workers : int
        Processes speaking in parallel (each initialises espeak-ng once);
        the output does not depend on it.
    max_tokens : int
        Longest utterance in tokens.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    dict : the statistics also written to ``corpus_stats.json``.
    """
    t0 = time.time()
    out_dir = os.fspath(out_dir)
    passages = [(str(pid), text) for pid, text in passages]
    if not passages:
        raise CorpusError("build_corpus: no passages given")
    ids = [pid for pid, _ in passages]
    if len(set(ids)) != len(ids):
        dup = next(p for p in ids if ids.count(p) > 1)
        raise CorpusError(f"build_corpus: passage id {dup!r} is repeated")
    split_names = [name for name, _ in splits]
    manifests = [os.path.join(out_dir, f"{name}.csv") for name in split_names]
    stats_path = os.path.join(out_dir, "corpus_stats.json")
    options = {
        "passages_sha1": _fingerprint(passages), "lang": lang,
        "n_speakers": n_speakers, "splits": [list(s) for s in splits], "seed": seed,
        "max_tokens": max_tokens, "format_version": FORMAT_VERSION,
    }
    if already_prepared(manifests + [stats_path], options):
        logger.info("%s: corpus already built with these options, skipping", out_dir)
        with open(stats_path, encoding="utf-8") as handle:
            return json.load(handle)

    audio_dir = os.path.join(out_dir, "audio")
    if os.path.isdir(audio_dir) and os.path.exists(stats_path):
        # A corpus built with other options: its audio would linger unused.
        logger.info("%s: options changed, removing the previous audio", out_dir)
        shutil.rmtree(audio_dir)
    speakers = make_speakers(n_speakers, lang=lang, seed=seed)
    spk_split = split_speakers(speakers, splits, seed=seed)
    split_of = {spk: name for name, spks in spk_split.items() for spk in spks}

    utterances = []
    for pid, text in passages:
        utts = _passage_utterances(text, max_tokens)
        utterances.append([u for u in utts if tokenize(u)])
    counts = [sum(len(tokenize(u)) for u in utts) for utts in utterances]
    keep = [i for i, c in enumerate(counts) if c > 0]
    if len(keep) < len(passages):
        logger.warning("build_corpus: %d passages without words skipped",
                       len(passages) - len(keep))
    blocks = assign_passages([counts[i] for i in keep], n_speakers)
    rng = random.Random(seed + 2)
    reader_of_block = list(range(n_speakers))
    rng.shuffle(reader_of_block)
    tasks = []
    for i, block in zip(keep, blocks):
        spk = speakers[reader_of_block[block]]
        tasks.append((spk, passages[i][0], utterances[i], out_dir, split_of[spk["spk_id"]]))

    engine = get_engine()
    for spk in speakers:  # fail early on a missing voice
        engine.set_voice(spk["voice"])

    rows, failed = _run_tasks(tasks, num_workers, progress)
    if failed:
        logger.warning(
            "build_corpus: %d utterances dropped (espeak-ng events did not match "
            "the tokens), e.g. %s", len(failed), failed[:3]
        )
    by_split = {name: [] for name in split_names}
    for row in rows:
        by_split[row["split"]].append(row)
    stats = {
        "lang": lang, "seed": seed, "sample_rate": SAMPLE_RATE,
        "espeak_ng_version": engine.version, "speakers": n_speakers,
        "tokens": len(rows), "types": len({r["word"] for r in rows}),
        "utterances": len({r["utt_id"] for r in rows}),
        "dropped_utterances": len(failed), "splits": {},
        "speaker_table": [dict(s, split=split_of[s["spk_id"]]) for s in speakers],
    }
    total_seconds = 0.0
    for name, path in zip(split_names, manifests):
        split_rows = by_split[name]
        segments = [
            Segment(wav=r["wav"], start=r["start"], stop=r["stop"], word=r["word"],
                    spk_id=r["spk_id"], utt_id=r["utt_id"], position=r["position"],
                    extra={"phones": r["phones"]})
            for r in split_rows
        ]
        write_segment_manifest(segments, path)
        utt_secs = {r["utt_id"]: r["utt_seconds"] for r in split_rows}
        seconds = sum(utt_secs.values())
        total_seconds += seconds
        stats["splits"][name] = {
            "speakers": len(spk_split[name]), "utterances": len(utt_secs),
            "tokens": len(split_rows), "types": len({r["word"] for r in split_rows}),
            "hours": round(seconds / 3600.0, 4),
        }
    stats["hours"] = round(total_seconds / 3600.0, 4)
    stats["build_seconds"] = round(time.time() - t0, 1)
    write_json(stats_path, stats)
    mark_prepared(manifests + [stats_path], options)
    return stats


def _run_tasks(tasks, num_workers, progress):
    """Run the passage tasks in worker processes, in order.

    espeak-ng keeps synthesis state in C globals (pitch flutter phase, gain
    control, echo buffer...) that no API call resets, so the audio of an
    utterance depends on everything the library spoke before in the process.
    To make the corpus identical for any ``num_workers`` (and whatever the
    calling process spoke before), every passage is spoken by a fresh forked
    process (``maxtasksperchild=1``) that loads its own copy of the library
    and initialises it once.
    """
    from tqdm import tqdm

    import soundfile  # noqa: F401  (imported once here, inherited by forks)
    import torchaudio.functional  # noqa: F401

    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    rows, failed = [], []
    with tqdm(total=len(tasks), desc="speaking passages", unit="passage",
              disable=not progress) as bar:
        with ctx.Pool(max(1, int(num_workers)), initializer=_init_worker,
                      maxtasksperchild=1) as pool:
            for task_rows, task_failed in pool.imap(_synthesize_task, tasks, chunksize=1):
                rows.extend(task_rows)
                failed.extend(task_failed)
                bar.update(1)
    return rows, failed
