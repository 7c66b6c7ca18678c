"""Command-line arguments shared by the benchmarks that read a finished experiment."""

import json
import os

from speechbrain_align.dataio.manifest import read_segment_manifest
from speechbrain_align.evaluation.experiment import corpus_paths
from speechbrain_align.utils.errors import load_recipe_hparams

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def add_experiment_arguments(parser):
    """``--experiment``, ``--hparams``, ``--overrides`` and ``--out`` on ``parser``."""
    parser.add_argument("--experiment", required=True, help="a finished experiment's output folder")
    parser.add_argument("--hparams", default=os.path.join(
        REPO, "recipes", "Bible", "experiment", "hparams", "default.yaml"))
    parser.add_argument("--overrides", default="{}",
                        help="YAML overrides of --hparams (e.g. the experiment's command-line ones)")
    parser.add_argument("--out", required=True)


def load_experiment(args):
    """The experiment's hyperparameters (``--hparams`` with ``--overrides``, its output
    folder ``--experiment``) and its train, valid and test manifest rows."""
    import yaml

    overrides = dict(yaml.safe_load(args.overrides) or {}, output_folder=args.experiment)
    hp = load_recipe_hparams(args.hparams, overrides)
    paths = corpus_paths(hp["data_folder"])
    rows = {s: read_segment_manifest(paths[f"{s}_csv"]) for s in ("train", "valid", "test")}
    return hp, rows


def open_store(out, name):
    """Create ``out`` and read its ``name`` JSON store of finished rows (empty when new).

    Returns the store's path and its rows."""
    os.makedirs(out, exist_ok=True)
    store = os.path.join(out, name)
    if not os.path.exists(store):
        return store, {}
    with open(store, encoding="utf-8") as handle:
        return store, json.load(handle)
