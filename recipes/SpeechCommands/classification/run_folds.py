#!/usr/bin/env python3
"""Accuracy that does not hinge on one split: the fixed split plus speaker-disjoint folds.

Runs train.py on the fixed speaker-disjoint split (in <output_folder>) and on
each of ``--n_folds`` folds (in <output_folder>/fold<k>; default 5 folds by
speaker hash), one after the other, then writes
<output_folder>/folds_summary.json, folds_summary.md and confusion_folds.png
(the confusion matrix summed over the folds). A finished run is not
retrained (each run resumes from its checkpoints).

    python run_folds.py hparams/ecapa.yaml --data_folder /path/to/speech_commands_v0.02_test
    python run_folds.py --table results/ecapa/1234 results/bilstm/1234 results/mlp/1234

Any other ``--key value`` goes to every train.py run.
"""

import json
import os
import subprocess
import sys
import time

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

from speechbrain_align.evaluation.confusion import plot_confusion_matrix
from speechbrain_align.evaluation.cross_validation import folds_table, summarize_folds
from speechbrain_align.utils.errors import run_main
from speechbrain_align.utils.files import atomic_write, write_json

HERE = os.path.dirname(os.path.abspath(__file__))
OWN_KEYS = ("--output_folder", "--n_folds", "--fold")


def passthrough(argv):
    """``argv`` without the keys this script sets for each run."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in OWN_KEYS:
            skip = True
        elif not arg.startswith(tuple(k + "=" for k in OWN_KEYS)):
            out.append(arg)
    return out


def run(hparams_file, args, output_folder, fold=None, n_folds=None):
    """Run train.py once (a fold, or the fixed split when ``fold`` is None)."""
    cmd = [sys.executable, os.path.join(HERE, "train.py"), hparams_file, *args,
           "--output_folder", output_folder]
    if fold is not None:
        cmd += ["--n_folds", str(n_folds), "--fold", str(fold)]
    print("+", " ".join(cmd), flush=True)
    started = time.time()
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        sys.exit(f"error: run failed ({output_folder}), exit status {proc.returncode}")
    print(f"  {output_folder}: {time.time() - started:.0f} s", flush=True)


def summarize(output_folder, n_folds):
    """Write folds_summary.{json,md} and confusion_folds.png; return the summary."""
    folds = [os.path.join(output_folder, f"fold{k}") for k in range(n_folds)]
    summary = summarize_folds(output_folder, folds)
    write_json(os.path.join(output_folder, "folds_summary.json"), summary)
    with atomic_write(os.path.join(output_folder, "folds_summary.md")) as handle:
        handle.write(folds_table([summary]) + "\n")
    if "confusion" in summary and len(summary["confusion"]["classes"]) <= 40:
        plot_confusion_matrix(
            summary["confusion"]["matrix"], summary["confusion"]["classes"],
            os.path.join(output_folder, "confusion_folds.png"),
            title=f"{summary['model']}: {n_folds} speaker-disjoint folds, "
                  f"{100 * summary['mean']:.1f} % mean accuracy",
        )
    return summary


def main(argv):
    """Run the protocol, or print the table of finished protocols (``--table``)."""
    if argv and argv[0] == "--table":
        summaries = []
        for folder in argv[1:]:
            with open(os.path.join(folder, "folds_summary.json"), encoding="utf-8") as handle:
                summaries.append(json.load(handle))
        print(folds_table(summaries))
        return
    hparams_file, _, overrides = sb.parse_arguments(argv)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    n_folds = int(hparams.get("n_folds") or 5)
    output_folder = os.path.abspath(hparams["output_folder"])
    args = passthrough(argv[1:])
    run(hparams_file, args, output_folder)
    for fold in range(n_folds):
        run(hparams_file, args, os.path.join(output_folder, f"fold{fold}"), fold, n_folds)
    summary = summarize(output_folder, n_folds)
    print(folds_table([summary]))


if __name__ == "__main__":
    sys.exit(run_main(main))
