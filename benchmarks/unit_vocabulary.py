#!/usr/bin/env python3
"""How many speech types unsupervised alignment needs, and whether merging units gives them.

Two measurements on a finished experiment (``--experiment``, e.g. ``results/bible``),
with its own settings (``--hparams``: the skip-gram block, the alignment YAMLs and
overrides, frequency cuts capped by the smaller vocabulary as in the grid):

* ``--truncate N ...``: the oracle T cut to its N most frequent types (0: all),
  aligned to the same-corpus text space by each unsupervised method, beside T*
  (Procrustes on the label dictionary of the kept types);
* ``--oracle_merge K ...``: k-means units (K) of the experiment's acoustic word
  embeddings (``awe/segments.npz``), each unit renamed by its majority word among
  the train speakers' segments, so that every unit of one word becomes one type
  (the best any label-free merge of units could do); the unit skip-gram is
  retrained on the merged sequences of every utterance, then aligned as above;
* ``--oracle_clean K ...``: the same, but the segments whose merged name is not
  their word are left out of the skip-gram's sequences (the best any label-free
  filter of wrongly assigned segments could do);
* ``--oracle_split K ...``: the oracle merge with each word's units dealt at
  random into two types (a word split by voice, as label-free merges leave it);
* ``--label_free_merge K ...``: the same units merged *without labels*
  (:mod:`speechbrain_align.speech.unit_merge`): a speaker-constrained merge of
  the unit centroids, then ``rounds`` merges of the types that sound alike and
  whose skip-gram vectors are alike, each followed by the unit skip-gram, then
  a merge of the types whose centroids are very close whatever their speakers
  (settings: ``--merge``, a YAML/JSON mapping);
* ``--oracle_fix N ...``: the experiment's own merged units with labels fixing,
  among its N largest types, the mixtures (split by word) and a word's later types
  (folded into its largest), or one of the two (``--fix``): how far the merge's
  errors in the frequent types hold the units' rows down;
* ``--tokens N ...``: the oracle T retrained on the transcripts of randomly
  drawn utterances (seeded) holding N spoken tokens: how many tokens each method
  needs.

Scores: token-level spoken word classification of the test speakers' segments
and CSLS P@1 over the 500 most frequent speech types (the experiment's columns),
on the same-corpus text space (``--condition cross``: King James); and, as a
diagnostic, how isomorphic each space is to the text space
(:func:`similarity_correlation`). Writes ``unit_vocabulary.json`` and
``unit_vocabulary.md`` to ``--out``; a finished row is kept and skipped on rerun
when its settings are unchanged.

Example::

    python benchmarks/unit_vocabulary.py --experiment results/bible \\
        --truncate 1100 2000 0 --oracle_merge 1000 6000 --out results/unit_vocabulary
    python benchmarks/unit_vocabulary.py --experiment results/bible --tokens 100000 133000 \\
        --oracle_clean 6000 --methods vecmap gw adversarial --out results/unit_vocabulary
    python benchmarks/unit_vocabulary.py --experiment results/bible --truncate 0 \\
        --label_free_merge 6000 --methods gw --method_overrides '{gw: {gw_mass_power: 0.5}}' \\
        --out results/unit_vocabulary_free_m05
"""

import argparse
import collections
import dataclasses
import hashlib
import json
import logging
import os
import sys
import time

import numpy as np
import torch

from speechbrain_align.dataio.manifest import group_by_utterance
from speechbrain_align.dataio.vectors import load_embeddings
from speechbrain_align.evaluation.crossmodal import (
    cluster_space, evaluate_space, label_space, majority_labels)
from speechbrain_align.speech.unit_merge import MERGE_DEFAULTS, check_settings, merge_units
from speechbrain_align.utils.errors import HparamsError
from speechbrain_align.utils.files import atomic_write, write_json

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "recipes", "Bible", "experiment"))
from alignment_grid import method_overrides  # noqa: E402
from alignment_stability import aligned  # noqa: E402
from experiment_cli import add_experiment_arguments, load_experiment, open_store  # noqa: E402

logger = logging.getLogger("unit_vocabulary")


def oracle_space(types, test_rows):
    """An oracle space: word types that are their own labels and each test segment's query."""
    items = [(r["word"], r["word"]) for r in test_rows]
    return dataclasses.replace(label_space("T", types, None, []), test_queries=types,
                               test_items=items)


def truncated_oracle(experiment, test_rows, n_types):
    """The oracle T space cut to its ``n_types`` most frequent types (0: all)."""
    types = load_embeddings(os.path.join(experiment, "spaces", "T.vec")).sorted_by_count()
    if n_types:
        types = types.subset(np.arange(min(n_types, len(types))))
    return oracle_space(types, test_rows)


def oracle_at_tokens(rows, n_tokens, hp):
    """T retrained on the transcripts of random utterances holding ``n_tokens`` spoken tokens."""
    from speechbrain_align.text.skipgram import train_skipgram_on_sentences

    every = rows["train"] + rows["valid"] + rows["test"]
    utterances = list(group_by_utterance(every).values())
    sentences, total = [], 0
    for i in np.random.default_rng(hp["seed"]).permutation(len(utterances)):
        if total >= n_tokens:
            break
        sentences.append([r["word"] for r in utterances[i]])
        total += len(utterances[i])
    types = train_skipgram_on_sentences(
        sentences, **dict(hp["skipgram"], workers=1, seed=hp["seed"]),
        source=f"transcripts, {total} tokens").sorted_by_count()
    return oracle_space(types, rows["test"]), {"tokens": total}


_UNITS = {}  # (experiment, K, seed) -> {segment ID: unit}


def _units(experiment, n_units, hp):
    """``{segment ID: unit}``: k-means (K = ``n_units``) of the AWE segments, computed once
    for every row that uses these units."""
    from speechbrain_align.speech.clustering import kmeans_units

    key = (experiment, n_units, hp["seed"])
    if key not in _UNITS:
        segments = load_embeddings(os.path.join(experiment, "awe", "segments.npz"))
        labels, _ = kmeans_units(segments.vectors, n_units, seed=hp["seed"])
        _UNITS[key] = dict(zip(segments.words, labels.tolist()))
    return _UNITS[key]


def oracle_merged_units(experiment, rows, n_units, hp, clean=False, parts=1):
    """k-means units of the AWE segments, merged by majority word, then the unit
    skip-gram (``clean``: on the segments whose merged name is their word only;
    ``parts`` > 1: each word's units dealt at random into that many types, as a
    word split by voice would be)."""
    unit = _units(experiment, n_units, hp)
    base = {u: f"w_{word}" for u, word in majority_labels(unit, rows["train"]).items()}
    merged = dict(base)
    if parts > 1:
        groups = {}
        for u in sorted(base):
            groups.setdefault(base[u], []).append(u)
        rng = np.random.default_rng(hp["seed"])
        for word, units in groups.items():
            for j, u in enumerate(rng.permutation(units)):
                merged[u] = f"{word}#{j % parts}"
    every = rows["train"] + rows["valid"] + rows["test"]
    name = {r["ID"]: merged.get(unit[r["ID"]], f"u{unit[r['ID']]}") for r in every}
    right = {r["ID"]: base.get(unit[r["ID"]]) == f"w_{r['word']}" for r in every}
    sentences = [[name[r["ID"]] for r in utt if right[r["ID"]] or not clean]
                 for utt in group_by_utterance(every).values()]
    types = _unit_skipgram(sentences, hp, f"oracle-merged units K={n_units}")
    space = cluster_space("units", types, name, rows["train"], name, rows["test"])
    return space, {"majority_words": len(set(base.values())),
                   "wrong_name": round(1.0 - float(np.mean(list(right.values()))), 4),
                   "tokens": sum(map(len, sentences))}


def oracle_fixed_units(experiment, rows, n_types, hp, fix):
    """The experiment's own merged units (``units/units/assignment.csv``) with labels
    fixing what the label-free merge left among its ``n_types`` largest types:
    ``fix`` ``mixtures`` (majority word under half of the type's train segments)
    split by word, each word holding a fifth of the type becoming a type of its
    own; ``secondary`` (a word's later types, majority at least half) folded
    into the word's largest type; or ``both``. Then the unit skip-gram, retrained."""
    from speechbrain_align.speech.unit_tables import read_assignment, unit_majority

    unit = read_assignment(os.path.join(experiment, "units", "units", "assignment.csv"))
    every = rows["train"] + rows["valid"] + rows["test"]
    sizes = collections.Counter(unit.values())
    majority = unit_majority(rows["train"], unit)  # unit -> word, size, purity
    count = collections.Counter((unit[r["ID"]], r["word"]) for r in rows["train"])
    top = [u for u, _ in sizes.most_common(n_types) if u in majority]
    mixed = {u for u in top if majority[u]["purity"] < 0.5}
    first = {}
    for u, _ in sizes.most_common():
        if u in majority and u not in mixed:
            first.setdefault(majority[u]["word"], u)
    name, folded = dict(unit), collections.Counter()
    for r in every:
        u = unit[r["ID"]]
        if fix != "secondary" and u in mixed and count[u, r["word"]] >= 0.2 * majority[u]["size"]:
            name[r["ID"]] = f"{u}_{r['word']}"
        elif fix != "mixtures" and u in top and u not in mixed:
            name[r["ID"]] = first[majority[u]["word"]]
            folded[u] += name[r["ID"]] != u
    sentences = [[name[r["ID"]] for r in utt] for utt in group_by_utterance(every).values()]
    types = _unit_skipgram(sentences, hp, f"units fixed by labels ({fix})")
    space = cluster_space("units", types, name, rows["train"], name, rows["test"])
    return space, {"mixtures": len(mixed), "folded_types": len(+folded),
                   "folded_tokens": sum(folded.values()), "tokens": len(name)}


def _unit_skipgram(sentences, hp, source):
    """The unit skip-gram (the experiment's ``skipgram`` block) on sequences of unit names."""
    from speechbrain_align.text.skipgram import train_skipgram_on_sentences

    return train_skipgram_on_sentences(
        sentences, **dict(hp["skipgram"], workers=1, seed=hp["seed"], min_count=1), source=source)


def label_free_merged_units(experiment, rows, n_units, hp, settings):
    """k-means units of the AWE segments merged without labels
    (:func:`speechbrain_align.speech.unit_merge.merge_units`, the unit skip-gram
    giving the context vectors), then the unit skip-gram. Labels only score the
    result (``wrong_name``: segments whose type's majority word is another word)."""
    segments = load_embeddings(os.path.join(experiment, "awe", "segments.npz"))
    unit = _units(experiment, n_units, hp)
    every = rows["train"] + rows["valid"] + rows["test"]
    speaker = {r["ID"]: r["spk_id"] for r in every}
    utterances = list(group_by_utterance(every).values())
    source = f"label-free merged units K={n_units}"

    def train(group_of):  # {segment ID: type} -> the unit skip-gram over type names
        sentences = [[f"g{group_of[r['ID']]}" for r in utt] for utt in utterances]
        return _unit_skipgram(sentences, hp, source)

    def context(groups):  # one skip-gram vector per type, row g for type g
        types = train(dict(zip(segments.words, groups.tolist())))
        return np.stack([types.vectors[types.index[f"g{g}"]] for g in range(groups.max() + 1)])

    labels = np.array([unit[w] for w in segments.words])
    group = merge_units(labels, segments.vectors, [speaker[w] for w in segments.words],
                        context, **settings)
    name = {r["ID"]: f"g{group[unit[r['ID']]]}" for r in every}
    types = train({i: group[unit[i]] for i in name})
    space = cluster_space("units", types, name, rows["train"], name, rows["test"])
    majority = majority_labels(name, rows["train"])
    wrong = float(np.mean([majority.get(name[r["ID"]]) != r["word"] for r in every]))
    return space, {"majority_words": len(set(majority.values())), "wrong_name": round(wrong, 4),
                   "tokens": len(every)}


def similarity_correlation(space, text, n_types=1000):
    """Pearson correlation between the pairwise cosines of the ``n_types`` most
    frequent speech types that have a gold word in ``text`` and those of their
    words (both spaces normalised unit, center, unit): how isomorphic the two
    spaces are (uses the labels: a diagnostic, not an input to any method)."""
    from speechbrain_align.alignment.normalization import normalize_embeddings

    types = space.types.sorted_by_count()
    top = set(types.words[:n_types])
    pairs = [(k, w) for k, w in space.label_dictionary(text.index) if k in top]
    steps = ["unit", "center", "unit"]
    x = normalize_embeddings(types.vectors, steps)[[types.index[k] for k, _ in pairs]]
    y = normalize_embeddings(text.vectors, steps)[[text.index[w] for _, w in pairs]]
    upper = np.triu_indices(len(pairs), 1)
    return round(float(np.corrcoef((x @ x.T)[upper], (y @ y.T)[upper])[0, 1]), 4)


def score_row(space, text, hp, methods):
    """Supervised and unsupervised rows of one space: token P@1, top-500 P@1, criterion."""
    out = {"n_types": len(space.types),
           "similarity_correlation": similarity_correlation(space, text)}
    smallest = min(len(space.types), len(text))
    for method in ["supervised"] + list(methods):
        start = time.time()
        pairs = space.label_dictionary(text.index) if method == "supervised" else None
        w, log = aligned(space.types, text, hp["alignment_hparams"], method,
                         method_overrides(hp, method, smallest), hp["seed"], train_pairs=pairs)
        scores = evaluate_space(space, text, w, log["normalize"])
        out[method] = {
            "token_csls_P@1": scores["classification"]["csls_P@1"],
            "top500_csls_P@1": scores["word_types"]["top500_csls_P@1"],
            "criterion": log["criterion"], "seconds": round(time.time() - start, 1),
        }
        logger.info("%s: %s", method, out[method])
    return out


def markdown(rows, methods):
    """The rows as a Markdown table (P@1 in %)."""
    head = ["row", "types", "tokens", "sim. corr.", "supervised token / top-500"] + [
        f"{m} token / top-500 (criterion; supervised's)" for m in methods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, row in rows.items():
        cells = [key, str(row["n_types"]), str(row.get("tokens", "–")),
                 str(row.get("similarity_correlation", "–")), "{:.1f} / {:.1f}".format(
            row["supervised"]["token_csls_P@1"], row["supervised"]["top500_csls_P@1"])]
        for m in methods:
            r = row.get(m)
            cells.append("–" if r is None else "{:.1f} / {:.1f} ({:.4f}; {:.4f})".format(
                r["token_csls_P@1"], r["top500_csls_P@1"], r["criterion"],
                row["supervised"]["criterion"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Parse the arguments, measure every requested row (resuming), write the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_experiment_arguments(parser)
    parser.add_argument("--truncate", type=int, nargs="*", default=[])
    parser.add_argument("--oracle_merge", type=int, nargs="*", default=[])
    parser.add_argument("--oracle_clean", type=int, nargs="*", default=[])
    parser.add_argument("--oracle_split", type=int, nargs="*", default=[],
                        help="oracle-merged units, each word's units dealt into two types")
    parser.add_argument("--label_free_merge", type=int, nargs="*", default=[],
                        help="k-means units (K) merged without labels (unit_merge)")
    parser.add_argument("--merge", default="{}",
                        help=f"label-free merge settings over {MERGE_DEFAULTS}")
    parser.add_argument("--oracle_fix", type=int, nargs="*", default=[],
                        help="the experiment's own units, labels fixing its N largest types")
    parser.add_argument("--fix", choices=["mixtures", "secondary", "both"], default="both",
                        help="what --oracle_fix fixes")
    parser.add_argument("--tokens", type=int, nargs="*", default=[])
    parser.add_argument("--methods", nargs="+", default=["vecmap", "adversarial"],
                        help="unsupervised methods (alignment_hparams keys: vecmap, gw, adversarial)")
    parser.add_argument("--condition", choices=["same", "cross"], default="same",
                        help="the text space: same corpus (WEB) or King James")
    parser.add_argument("--method_overrides", default="{}",
                        help='YAML/JSON {method: {key: value}} updating the experiment\'s '
                             'alignment_overrides (e.g. \'{gw: {gw_mass_power: 0.5}}\')')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    import yaml

    hp, rows = load_experiment(args)
    for method, extra in (yaml.safe_load(args.method_overrides) or {}).items():
        if method not in hp["alignment_hparams"] or not isinstance(extra, dict):
            parser.error(f"--method_overrides: {method!r} is not a method of alignment_hparams "
                         f"({sorted(hp['alignment_hparams'])}) with a mapping of settings")
        hp["alignment_overrides"][method] = dict(hp["alignment_overrides"].get(method) or {}, **extra)
    text = load_embeddings(os.path.join(args.experiment, "text_vectors", f"{args.condition}.vec"))
    store, done = open_store(args.out, "unit_vocabulary.json")
    recipes = {}  # the alignment YAMLs' text: a changed recipe setting reruns the rows
    for method in ["supervised"] + list(args.methods):
        with open(os.path.join(REPO, hp["alignment_hparams"][method]), encoding="utf-8") as f:
            recipes[method] = f.read()
    try:
        merge = check_settings(yaml.safe_load(args.merge) or {})
    except HparamsError as err:
        parser.error(f"--{err}")
    settings = [hp["skipgram"], recipes, hp["alignment_overrides"], hp["seed"], sorted(args.methods)]
    settings += [args.condition] if args.condition != "same" else []  # earlier stores stay valid

    def digest(kind):  # a row's settings; the label-free rows' include the merge's
        blob = json.dumps(settings + ([merge] if kind == "free" else []), sort_keys=True, default=str)
        return hashlib.sha1(blob.encode("utf-8")).hexdigest()

    wanted = [("T", n) for n in args.truncate] + [("merge", k) for k in args.oracle_merge]
    wanted += [("clean", k) for k in args.oracle_clean] + [("split", k) for k in args.oracle_split]
    wanted += [("free", k) for k in args.label_free_merge] + [("tokens", n) for n in args.tokens]
    wanted += [("fix", n) for n in args.oracle_fix]
    for kind, n in wanted:
        key = {
            "T": f"T, its {n} most frequent types" if n else "T, all its types",
            "merge": f"units K={n}, oracle-merged by majority word",
            "clean": f"units K={n}, oracle-merged, wrongly named segments left out",
            "split": f"units K={n}, oracle-merged, each word's units dealt into two types",
            "free": f"units K={n}, merged without labels",
            "tokens": f"T on {n} spoken tokens",
            "fix": f"the experiment's units, {args.fix} of its {n} largest types fixed by labels",
        }[kind]
        if done.get(key, {}).get("settings") == digest(kind):
            logger.info("%s: kept from %s", key, store)
            continue
        logger.info("%s ...", key)
        if kind == "T":
            space, extra = truncated_oracle(args.experiment, rows["test"], n), {}
        elif kind == "tokens":
            space, extra = oracle_at_tokens(rows, n, hp)
        elif kind == "fix":
            space, extra = oracle_fixed_units(args.experiment, rows, n, hp, args.fix)
        elif kind == "free":
            space, extra = label_free_merged_units(args.experiment, rows, n, hp, merge)
        else:
            space, extra = oracle_merged_units(args.experiment, rows, n, hp, kind == "clean",
                                               2 if kind == "split" else 1)
        done[key] = dict(score_row(space, text, hp, args.methods), settings=digest(kind), **extra)
        write_json(store, done)
    current = {digest("T"), digest("free")}
    table = markdown({k: v for k, v in done.items() if v.get("settings") in current}, args.methods)
    with atomic_write(os.path.join(args.out, "unit_vocabulary.md")) as handle:
        handle.write(table)
    print(table)


if __name__ == "__main__":
    main()
