"""The acoustic-word-embedding recipe (``recipes/Bible/awe/train.py``) as one function.

:func:`run_awe` reads every manifest, then (each step skipped when its
outputs exist and were made with the same inputs and options):

1. per-speaker VTLN warps (``save/warps.json``, :func:`~speechbrain_align.speech.vtln.estimate_warps`);
2. segment vectors, warped and unwarped (``save/segment_vectors.npz``);
3. rounds of segment-pair mining + LDA (``save/lda``, SpeechBrain
   Checkpointer: a killed run resumes after its last round), then rounds of
   context-pair mining + LDA from that space (route ``lda_context``,
   ``save/lda_context``); optionally the contrastive route (SpeechBrain
   Brain, ``save/contrastive``) and ``lda_context_harmony``, the context
   route with each speaker's offsets removed cluster by cluster
   (:func:`~speechbrain_align.speech.harmony.harmonize`, ``save/harmony.npz``);
4. the number of units, chosen without labels (``n_units.json``);
5. evaluation of every embedding on the eval speakers (``awe_results.json``,
   ``awe_ap.png``) and the export of the chosen one, every segment, unit
   length (``segments.npz``, words = segment IDs).
"""

import hashlib
import json
import logging
import os
import time

import numpy as np
import torch

from speechbrain_align.dataio.manifest import ManifestError, read_segment_manifest
from speechbrain_align.dataio.vectors import Embeddings, load_embeddings, save_embeddings
from speechbrain_align.evaluation.awe_metrics import (
    evaluate_embedding,
    evaluation_sample,
    plot_ap_by_pair_kind,
    speaker_accents,
)
from speechbrain_align.retrieval.search import normalize_rows
from speechbrain_align.speech.awe import (
    cross_speaker_pairs,
    select_n_units,
    standardize_by_speaker,
    train_lda_awe,
    utterance_neighbours,
)
from speechbrain_align.speech.units import _file_stamp, kmeans_units
from speechbrain_align.speech.vtln import WarpedMFCC, estimate_warps, segment_vectors
from speechbrain_align.utils.errors import HparamsError
from speechbrain_align.utils.files import already_prepared, atomic_save, mark_prepared, write_json

logger = logging.getLogger(__name__)

# Embedding routes (``routes`` in the YAML; "lda" is computed in any case, the others start from it)
ROUTES = ("lda", "lda_context", "contrastive", "lda_context_harmony")


def read_manifests(paths):
    """Rows of all manifests, in order; a segment ID in two manifests is an error."""
    rows, origin = [], {}
    for path in paths:
        for row in read_segment_manifest(path):
            if row["ID"] in origin:
                raise ManifestError(f"{path}: segment id {row['ID']!r} is also in {origin[row['ID']]}")
            origin[row["ID"]] = path
            rows.append(row)
    if not rows:
        raise ManifestError(f"{', '.join(map(str, paths))}: no segment")
    return rows


def _grid(hp):
    step = float(hp["vtln_grid_step"])
    grid = np.arange(float(hp["vtln_grid_min"]), float(hp["vtln_grid_max"]) + step / 2, step)
    return tuple(np.round(grid, 4).tolist())


def _warps(hp, rows, stamp, timer):
    path = os.path.join(hp["save_folder"], "warps.json")
    opts = {"inputs": stamp, "vtln": hp["vtln"], "grid": _grid(hp), "files": hp["vtln_files_per_speaker"],
            "sweeps": hp["vtln_sweeps"], "n_frames": hp["n_frames"], "seed": hp["seed"]}
    if already_prepared([path], opts):
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)["warps"]
    start = time.time()
    warps, history = {}, []
    if hp["vtln"]:
        mfcc = WarpedMFCC(**dict(hp["mfcc_options"], deltas=False))
        warps, history = estimate_warps(rows, mfcc, _grid(hp), hp["vtln_files_per_speaker"],
                                        hp["vtln_sweeps"], hp["n_frames"], hp["seed"])
    timer["vtln_warps"] = round(time.time() - start, 1)
    write_json(path, {"warps": warps, "sweeps": history, "seconds": timer["vtln_warps"]})
    mark_prepared([path], opts)
    return warps


def _vectors(hp, rows, warps, stamp, timer):
    path = os.path.join(hp["save_folder"], "segment_vectors.npz")
    opts = {"inputs": stamp, "warps": warps, "n_frames": hp["n_frames"], "mfcc": hp["mfcc_options"]}
    if already_prepared([path], opts):
        with np.load(path, allow_pickle=False) as data:
            if data["ids"].tolist() == [r["ID"] for r in rows]:
                return data["warped"], data["unwarped"]
    start = time.time()
    warped, unwarped = segment_vectors(rows, warps, hp["n_frames"], hp["mfcc_options"],
                                       workers=hp["feature_workers"], unwarped=True)
    timer["segment_vectors"] = round(time.time() - start, 1)
    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, ids=np.array([r["ID"] for r in rows]), warped=warped, unwarped=unwarped)

    atomic_save(path, write)
    mark_prepared([path], opts)
    return warped, unwarped


def baseline_vectors(unwarped, n_frames, n_mfcc):
    """The issue's MFCC baseline: static + first-derivative cepstra of every frame, no duration."""
    frames = unwarped[:, :-1].reshape(len(unwarped), n_frames, -1)
    return np.ascontiguousarray(frames[:, :, : 2 * n_mfcc].reshape(len(unwarped), -1))


def _lda(hp, x, speakers, words, inputs_key, timer, route="lda", start=None, context=None):
    """Segment rounds (``route="lda"``) or context rounds from ``start`` (``"lda_context"``)."""
    model, ckpt = hp[f"{route}_model"], hp[f"{route}_checkpointer"]
    ckpt.recover_if_possible()
    if context is not None:
        settings = {"k": hp["context_k"], "min_cos": hp["context_min_cos"]}
        if hp.get("context_sides", "both") != "both":  # earlier checkpoints keep their key
            settings["sides"] = hp["context_sides"]
        rounds = hp["context_rounds"]
    else:
        settings, rounds = {"k": hp["mine_k"]}, hp["lda_rounds"]
    if start is not None:  # context rounds depend on the segment rounds they start from and their settings
        inputs_key = hashlib.sha1(json.dumps([inputs_key, start.rounds, settings]).encode()).hexdigest()[:16]
    if model.rounds and model.rounds[0].get("inputs") != inputs_key:
        logger.info("%s checkpoint made from other inputs; starting over", route)
        model.mean, model.weight, model.rounds = None, None, []
    began = time.time()
    train_lda_awe(x, speakers, rounds=rounds, candidates=hp["mine_candidates"], dim=hp["lda_dim"],
                  pca_dim=hp["mine_pca_dim"], mine_segments=hp["mine_segments"], reg=hp["lda_reg"],
                  seed=hp["seed"], model=model, checkpointer=ckpt,
                  words=words if hp["log_pair_precision"] else None, round_info={"inputs": inputs_key},
                  context=context, start=start, **settings)
    timer[f"{route}_rounds"] = round(time.time() - began, 1)
    return model


def _harmony_settings(hp):
    """The ``harmony:`` block, checked for unknown keys."""
    from speechbrain_align.speech.harmony import SETTINGS

    settings = dict(hp.get("harmony") or {})
    if set(settings) - set(SETTINGS):
        raise HparamsError(f"harmony: unknown setting(s) {sorted(set(settings) - set(SETTINGS))}; "
                           f"known: {sorted(SETTINGS)}")
    return settings


def _harmony(hp, z, speakers, timer):
    """The ``harmony`` settings applied to ``z`` (cached in ``save/harmony.npz``, keyed by a
    digest of ``z``, the speakers and the settings)."""
    from speechbrain_align.speech.harmony import harmonize

    settings = _harmony_settings(hp)
    digest = hashlib.sha1(np.ascontiguousarray(z, dtype=np.float32).tobytes())
    digest.update(json.dumps([speakers.tolist(), settings, hp["seed"]], sort_keys=True).encode())
    key = digest.hexdigest()[:16]
    path = os.path.join(hp["save_folder"], "harmony.npz")
    if os.path.exists(path):
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) == key:
                return data["vectors"]
    start = time.time()
    try:
        vectors = harmonize(z, speakers, seed=hp["seed"], **settings)
    except ValueError as err:  # harmonize checks its settings before any work
        raise HparamsError(f"harmony: {err}") from err
    timer["harmony"] = round(time.time() - start, 1)

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, key=np.array(key), vectors=vectors)

    atomic_save(path, write)
    return vectors


def _contrastive(hp, x, z, speakers, run_opts, timer):
    from speechbrain_align.speech.awe_brain import train_contrastive

    start = time.time()
    rng = np.random.default_rng(hp["seed"])
    rows = np.arange(len(x))
    if hp["mine_segments"] and hp["mine_segments"] < len(x):
        rows = np.sort(rng.choice(len(x), int(hp["mine_segments"]), replace=False))
    pairs = rows[cross_speaker_pairs(z[rows], speakers[rows], hp["mine_k"], hp["mine_candidates"])]
    pairs = pairs[rng.permutation(len(pairs))[: hp["contrastive_pairs"]]]
    emb = train_contrastive(x, pairs, hp, run_opts)
    timer["contrastive"] = round(time.time() - start, 1)
    return emb


def run_awe(hp, run_opts=None):
    """Run the recipe; returns the results dict written to ``awe_results.json``.

    Under torchrun (a process group of more than one process) the default
    route has no gradient training to share: the main process alone computes
    and writes everything while the others wait, then every process returns
    the main one's results. The contrastive route (a Brain) is refused there.
    """
    from speechbrain.utils.distributed import is_distributed_initialized, run_on_main

    if is_distributed_initialized() and torch.distributed.get_world_size() > 1:
        if "contrastive" in hp.get("routes", ["lda"]):
            raise ValueError("routes: the contrastive route is not supported under torchrun; "
                             "run recipes/Bible/awe/train.py as one process")
        return run_on_main(_run_awe, args=(hp, run_opts))
    return _run_awe(hp, run_opts)


def _run_awe(hp, run_opts=None):
    if hp.get("cpu_threads"):
        torch.set_num_threads(int(hp["cpu_threads"]))
    total = time.time()
    timer = {}
    out = hp["output_folder"]
    os.makedirs(hp["save_folder"], exist_ok=True)
    for path in list(hp["manifests"]) + [hp["eval_csv"]]:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: manifest not found; run recipes/Bible/bible_prepare.py first")
    routes = list(hp.get("routes", ["lda"]))
    unknown = set(routes) - set(ROUTES)
    if unknown or hp["export_route"] not in routes:
        raise HparamsError(f"routes {routes} / export_route {hp['export_route']!r}: routes are "
                         f"{list(ROUTES)}, export_route one of them")
    if "lda_context_harmony" in routes and "lda_context" not in routes:
        raise HparamsError(f"routes {routes}: lda_context_harmony starts from lda_context; list both")
    if "lda_context_harmony" in routes:
        _harmony_settings(hp)
    if hp.get("context_sides", "both") not in ("both", "each"):
        raise HparamsError(f"context_sides: {hp['context_sides']!r}: use both or each")
    rows = read_manifests(hp["manifests"])
    ids = [r["ID"] for r in rows]
    speakers = np.array([r["spk_id"] for r in rows])
    words = np.array([r["word"] for r in rows])
    focus = sorted({r["spk_id"] for r in read_segment_manifest(hp["eval_csv"])})
    missing = sorted(set(focus) - set(speakers.tolist()))
    if missing:
        raise ManifestError(f"{hp['eval_csv']}: speakers {missing} have no segment in the manifests "
                            f"{list(hp['manifests'])}; add the eval manifest to 'manifests'")
    stats_path = hp.get("corpus_stats")
    accents = speaker_accents(stats_path) if stats_path and os.path.exists(stats_path) else {}
    stamp = [_file_stamp(p) for p in hp["manifests"]]

    warps = _warps(hp, rows, stamp, timer)
    warped, unwarped = _vectors(hp, rows, warps, stamp, timer)
    x = standardize_by_speaker(warped, speakers)
    inputs_key = hashlib.sha1(json.dumps([stamp, warps, hp["n_frames"], hp["mfcc_options"]],
                                         sort_keys=True, default=str).encode()).hexdigest()[:16]
    model = _lda(hp, x, speakers, words, inputs_key, timer)
    embeddings = {
        "mfcc_cmvn": baseline_vectors(unwarped, hp["n_frames"], hp["mfcc_options"]["n_mfcc"]),
        "vtln_mfcc": x,
        "lda": model.transform(x),
    }
    context_model = None
    if "lda_context" in routes:
        neighbours = utterance_neighbours(rows)
        context_model = _lda(hp, x, speakers, words, inputs_key, timer, route="lda_context", start=model,
                             context=neighbours)
        embeddings["lda_context"] = context_model.transform(x)
    if "lda_context_harmony" in routes:
        embeddings["lda_context_harmony"] = _harmony(hp, embeddings["lda_context"], speakers, timer)
    if "contrastive" in routes:
        embeddings["contrastive"] = _contrastive(hp, x, embeddings["lda"], speakers, run_opts, timer)
    chosen = embeddings[hp["export_route"]]

    start = time.time()
    n_units, unit_table = select_n_units(chosen, speakers, hp["n_units_grid"], hp["n_units_tolerance"],
                                         hp["n_units_max_segments"], hp["mine_k"], hp["mine_candidates"],
                                         seed=hp["seed"])
    write_json(os.path.join(out, "n_units.json"), {"n_units": n_units, "agreement": unit_table})
    timer["select_n_units"] = round(time.time() - start, 1)

    start = time.time()
    eval_rows = evaluation_sample(speakers, focus, accents, hp["eval_max_focus"], hp["eval_max_partners"],
                                  seed=hp["seed"])
    results = {}
    for name, vecs in embeddings.items():
        unit_vecs = normalize_rows(vecs)
        labels, _ = kmeans_units(unit_vecs, min(n_units, len(vecs)), init="random", seed=hp["seed"],
                                 max_points_per_centroid=hp["purity_max_points_per_centroid"])
        results[name] = evaluate_embedding(vecs, words, speakers, eval_rows, focus, accents, labels,
                                           bins=hp["ap_bins"])
        logger.info("AWE %s: %s", name, results[name])
    timer["evaluation"] = round(time.time() - start, 1)

    _export(Embeddings(ids, normalize_rows(chosen), np.ones(len(ids), dtype=np.int64)),
            os.path.join(out, "segments.npz"))
    plot_ap_by_pair_kind(results, os.path.join(out, "awe_ap.png"),
                         title=f"same-different AP, {len(focus)} eval speakers")
    timer["total"] = round(time.time() - total, 1)
    summary = {
        "acoustic_word_embeddings": results, "chosen": hp["export_route"], "n_units": n_units,
        "warps": warps, "lda_rounds": model.rounds,
        "lda_context_rounds": context_model.rounds if context_model is not None else [],
        "eval_speakers": focus,
        "eval_segments": int(len(eval_rows)), "segments": len(ids), "seconds": timer,
        "note": "gold words are used for evaluation only (AP, purity, logged pair precision)",
    }
    write_json(os.path.join(out, "awe_results.json"), summary)
    return summary


def _export(emb, path):
    """Write the exported segment vectors, unless ``path`` already holds exactly these (its
    modification time then stays, so the unit stage that reads it is not redone)."""
    if os.path.exists(path):
        try:
            old = load_embeddings(path)
        except (OSError, ValueError):  # damaged or of another format: write it again
            old = None
        if (old is not None and list(old.words) == list(emb.words)
                and np.array_equal(old.vectors, emb.vectors)):
            logger.info("%s: unchanged, kept", path)
            return
    save_embeddings(emb, path)
