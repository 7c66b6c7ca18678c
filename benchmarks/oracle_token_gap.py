"""Which word types make the oracle's token-level gap between two alignment rows.

Usage::

    python benchmarks/oracle_token_gap.py --experiment results/bible --condition same

Token-level spoken word classification of the oracle T (the experiment's
``classification`` column) scores every test speakers' token with the vector
of its own word, so it is the type-level CSLS P@1 weighted by each word's
test tokens: a single frequent word moves it by several points. For each
mapping of T in ``<experiment>/alignment/T_<condition>_<row>/`` (the
supervised one and each unsupervised method found), the script scores the
test tokens (``<data_folder>/speech/test.csv``) with the experiment's own
evaluation, then prints, for each unsupervised row against the supervised
one, the types whose tokens it loses or gains the most, with each type's
share of the tokens, what each row retrieves, and the supervised row's CSLS
margin (gold word minus the best other word; near 0 = a tie).
"""

import argparse
import collections
import json
import os

import numpy as np

from speechbrain_align.dataio.manifest import read_segment_manifest
from speechbrain_align.dataio.vectors import load_embeddings
from speechbrain_align.evaluation.crossmodal import _prepared, label_space
from speechbrain_align.evaluation.tasks import evaluate_word_classification, map_vectors
from speechbrain_align.retrieval.dense import hubness
from speechbrain_align.retrieval.search import normalize_rows

METHODS = ("supervised", "adversarial", "vecmap")


def score_row(types, text, mapping, steps, test_words):
    """Per-word token hits and top candidate of one mapping of T, plus its token P@1 (%).

    Returns ``(p_at_1, {word: (tokens, hits, predicted word)}, csls_margin)``;
    ``csls_margin[word]`` is the CSLS score of the gold word minus that of
    the best other text word.
    """
    space = label_space("T", types, None, [])
    qtypes, _, tgt = _prepared(space, text, steps)
    items = [(w, w) for w in test_words]
    res = evaluate_word_classification(qtypes, tgt, items, mapping=mapping, ks=(1,),
                                       methods=("csls",), return_predictions=True)
    per_word = {}
    for pred in res["predictions"]:
        word = pred["query"]
        tokens, hits, _ = per_word.get(word, (0, 0, None))
        per_word[word] = (tokens + 1, hits + (pred["csls_rank"] == 1), pred["csls"][0])
    mapped = map_vectors(qtypes.vectors, mapping)
    y = normalize_rows(tgt.vectors)
    r_src, r_tgt = hubness(mapped, y, csls_k=10)
    margin = {}
    for word in per_word:
        i, j = qtypes.index[word], tgt.index[word]
        scores = 2 * (y @ mapped[i]) - r_src[i] - r_tgt
        gold = scores[j]
        scores[j] = -np.inf
        margin[word] = float(gold - scores.max())
    return res["csls_P@1"], per_word, margin


def main(argv=None):
    """Score each row's mapping of T and print the types behind the gaps.

    Returns ``{row: token P@1 (%)}`` and, per unsupervised row,
    ``{row + " gaps": [(word, token change, share of tokens), ...]}``.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", default="results/bible")
    parser.add_argument("--data_folder", default="data/bible")
    parser.add_argument("--condition", default="same", choices=("same", "cross"))
    parser.add_argument("--top", type=int, default=8, help="types listed per row")
    args = parser.parse_args(argv)
    align_dir = os.path.join(args.experiment, "alignment")
    types = load_embeddings(os.path.join(align_dir, "inputs", "speech_T.npz"))
    text = load_embeddings(os.path.join(align_dir, "inputs", f"text_{args.condition}.npz"))
    test_words = [r["word"] for r in read_segment_manifest(
        os.path.join(args.data_folder, "speech", "test.csv"))]
    test_words = [w for w in test_words if w in types.index and w in text.index]
    rows = {}
    for method in METHODS:
        folder = os.path.join(align_dir, f"T_{args.condition}_{method}")
        if os.path.exists(os.path.join(folder, "mapping.npy")):
            with open(os.path.join(folder, "log.json")) as f:
                steps = json.load(f)["normalize"]
            rows[method] = score_row(types, text, np.load(os.path.join(folder, "mapping.npy")),
                                     steps, test_words)
    if "supervised" not in rows:
        raise SystemExit(f"{align_dir}: no T_{args.condition}_supervised/mapping.npy")
    n = len(test_words)
    out = {}
    print(f"T vs {args.condition} text: {n} test tokens of {len(set(test_words))} words")
    for method, (p1, _, _) in rows.items():
        print(f"  T ({method}): token CSLS P@1 {p1:.1f}%")
        out[method] = p1
    _, sup_words, sup_margin = rows["supervised"]
    for method, (p1, words, _) in rows.items():
        if method == "supervised":
            continue
        delta = collections.Counter({w: words[w][1] - sup_words[w][1] for w in words})
        moved = sorted((w for w in delta if delta[w]), key=lambda w: (-abs(delta[w]), w))
        print(f"\n  T ({method}) - T*: {p1 - out['supervised']:+.1f} points; the types that "
              f"move most ({len(moved)} types move):")
        print(f"    {'word':>12} {'tokens':>8} {'share':>6} {'T* ->':>12} {method + ' ->':>14}"
              f" {'T* CSLS margin':>15}")
        for w in moved[: args.top]:
            print(f"    {w:>12} {delta[w]:+8d} {100 * words[w][0] / n:5.1f}% "
                  f"{sup_words[w][2]:>12} {words[w][2]:>14} {sup_margin[w]:+15.3f}")
        out[f"{method} gaps"] = [(w, delta[w], words[w][0] / n) for w in moved]
    return out


if __name__ == "__main__":
    main()
