#!/usr/bin/env python3
"""What splits a word into several unit types: voice, or the neighbouring sounds?

Reads a finished experiment's merged units (``units/units/assignment.csv``) and
the manifests' gold words and phones (evaluation only). A *split type* is a type
whose majority word (over every speaker's segments, at least half of the type)
already has a larger type, the word's *main type*. For every split type of at
least ``--min_size`` segments it measures:

* **speakers shared**: the share of its segments spoken by speakers who also say
  the word at least 3 times in the main type (a voice split would be near 0);
* **neighbour bias**: for the phone that most often ends the previous word and
  the phone that most often starts the next word (``#`` at an utterance edge,
  vowels pooled as ``V``), how much more often it occurs around the split type's
  segments of the word than around the main type's; the larger side is kept
  (a split made by coarticulation with the neighbours would be near 1); beside
  it, the same statistic for as many segments drawn at random from the main
  type (what chance gives at that size).

Rows are grouped by the split type's size. Writes ``split_types.json`` and
``split_types.md`` to ``--out``.

Example::

    python benchmarks/split_types.py --experiment results/bible --out results/split_types
"""

import argparse
import collections
import os
import sys

import numpy as np

from speechbrain_align.speech.unit_tables import main_types, read_assignment, unit_majority
from speechbrain_align.utils.files import atomic_write, write_json

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from experiment_cli import add_experiment_arguments, load_experiment  # noqa: E402

VOWELS = set("aeiouAEIOU03@V")
BUCKETS = ((10, 50), (50, 200), (200, None))


def phone_class(phones, last):
    """The first (or ``last``) phone of a manifest's ``phones``, vowels pooled as ``V``.

    Example
    -------
    >>> phone_class("D @", last=False), phone_class("'a n d", last=True), phone_class("'a n d", last=False)
    ('C:D', 'C:d', 'V')
    """
    seq = phones.replace("'", "").replace(",", "").split()
    if not seq:
        return "#"
    phone = seq[-1] if last else seq[0]
    return "V" if phone[0] in VOWELS else f"C:{phone}"


def neighbour_classes(rows):
    """``{segment ID: (previous word's last phone class, next word's first phone class)}``."""
    at = {(r["utt_id"], int(r["position"])): r for r in rows}
    out = {}
    for r in rows:
        prev = at.get((r["utt_id"], int(r["position"]) - 1))
        nxt = at.get((r["utt_id"], int(r["position"]) + 1))
        out[r["ID"]] = (phone_class(prev["phones"], True) if prev else "#",
                        phone_class(nxt["phones"], False) if nxt else "#")
    return out


def _bias(classes, main_sides, own):
    """Largest excess share of one neighbour class around ``classes`` (two lists, one per side)."""
    bias = 0.0
    for side, main_side in zip(classes, main_sides):
        cls, n = collections.Counter(side).most_common(1)[0]
        bias = max(bias, n / own - main_side[cls] / max(1, sum(main_side.values())))
    return bias


def split_types(rows, assignment, min_size=10, seed=0):
    """One record per split type: its size, word, speakers shared with the main type,
    neighbour bias and the bias of a random draw from the main type (see the module
    docstring)."""
    rng = np.random.default_rng(seed)
    majority = unit_majority(rows, assignment)
    first = main_types(majority, sorted(majority, key=lambda u: (-majority[u]["size"], u)))
    context = neighbour_classes(rows)
    speakers = collections.defaultdict(collections.Counter)
    around = collections.defaultdict(list)  # unit -> neighbour classes of its majority word's segments
    for r in rows:
        unit = assignment.get(r["ID"])
        if unit is None or majority.get(unit, {}).get("word") != r["word"]:
            continue
        speakers[unit][r["spk_id"]] += 1
        around[unit].append(context[r["ID"]])
    sides = {unit: tuple(collections.Counter(side) for side in zip(*pairs)) for unit, pairs in around.items()}
    records = []
    for unit, info in majority.items():
        main = first.get(info["word"])
        if info["purity"] < 0.5 or main is None or main == unit or info["size"] < min_size:
            continue
        own = sum(speakers[unit].values())
        shared = sum(n for spk, n in speakers[unit].items() if speakers[main][spk] >= 3) / own
        bias = _bias(list(zip(*around[unit])), sides[main], own)
        draw = [around[main][i] for i in rng.choice(len(around[main]), min(own, len(around[main])),
                                                    replace=False)]
        chance = _bias(list(zip(*draw)), sides[main], len(draw))
        records.append({"type": unit, "word": info["word"], "size": info["size"],
                        "speakers": len(speakers[unit]), "speakers_shared": round(shared, 4),
                        "neighbour_bias": round(bias, 4), "chance_bias": round(chance, 4)})
    return sorted(records, key=lambda rec: -rec["size"])


def summary_table(records):
    """Markdown rows per size bucket: types, segments, median speakers shared and bias."""
    lines = ["| split type size | types | segments of their word | speakers | speakers shared "
             "(median) | neighbour bias (median) | chance (median) | types with bias >= 0.5 |",
             "|---|---|---|---|---|---|---|---|"]
    for low, high in BUCKETS:
        sel = [r for r in records if r["size"] >= low and (high is None or r["size"] < high)]
        if not sel:
            continue
        name = f"{low}-{high - 1}" if high else f"{low}+"
        lines.append(f"| {name} | {len(sel)} | {sum(r['size'] for r in sel):,} | "
                     f"{np.median([r['speakers'] for r in sel]):.0f} | "
                     f"{np.median([r['speakers_shared'] for r in sel]):.2f} | "
                     f"{np.median([r['neighbour_bias'] for r in sel]):.2f} | "
                     f"{np.median([r['chance_bias'] for r in sel]):.2f} | "
                     f"{sum(r['neighbour_bias'] >= 0.5 for r in sel)} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_experiment_arguments(parser)
    parser.add_argument("--min_size", type=int, default=10)
    args = parser.parse_args(argv)
    path = os.path.join(args.experiment, "units", "units", "assignment.csv")
    if not os.path.exists(path):
        parser.error(f"--experiment: {path} not found (run the experiment's units stage first)")
    _, rows = load_experiment(args)
    every = rows["train"] + rows["valid"] + rows["test"]
    records = split_types(every, read_assignment(path), args.min_size)
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "split_types.json"), records)
    table = summary_table(records)
    with atomic_write(os.path.join(args.out, "split_types.md")) as handle:
        handle.write(table)
    print(table)
    for rec in records[:15]:
        print(rec)


if __name__ == "__main__":
    main()
