"""The experiment's configurations (default, small, full) stay in step.

run_experiment.py reads the same keys from each; a key renamed in one file
and not in the others would only fail after the corpus and several stages
had run.
"""

import os

import pytest
from hyperpyyaml import load_hyperpyyaml

HPARAMS = os.path.join(os.path.dirname(__file__), "..", "recipes", "Bible", "experiment", "hparams")
NAMES = ("default.yaml", "small.yaml", "full.yaml")


def _load(name):
    with open(os.path.join(HPARAMS, name), encoding="utf-8") as handle:
        return load_hyperpyyaml(handle)


@pytest.mark.parametrize("name", NAMES[1:])
def test_same_keys_as_default(name):
    default, other = _load("default.yaml"), _load(name)
    assert sorted(other) == sorted(default)
    for method, overrides in default["alignment_overrides"].items():
        assert sorted(other["alignment_overrides"][method]) == sorted(overrides), method
    assert sorted(other["skipgram"]) == sorted(default["skipgram"])


@pytest.mark.parametrize("name", NAMES)
def test_unsupervised_rows_and_recipes_exist(name):
    hp = _load(name)
    assert set(hp["unsupervised_rows"]) <= {"A", "B", "B_awe", "F", "units", "T"}
    for n in hp["unsupervised_rows"].values():  # restarts, or restarts per condition
        if isinstance(n, dict):
            assert set(n) <= {"same", "cross", "es"}, n
            n = list(n.values())
        else:
            n = [n]
        # 0 leaves a condition out; a row runs somewhere
        assert all(int(k) >= 0 for k in n) and any(int(k) >= 1 for k in n), n
    root = os.path.join(HPARAMS, "..", "..", "..", "..")
    for key in ("speech2vec_hparams", "awe_hparams", "units_hparams", "classifier_hparams"):
        assert os.path.isfile(os.path.join(root, hp[key])), (name, key)


@pytest.mark.parametrize("name", NAMES)
def test_alignment_overrides_are_keys_of_the_recipe_yamls(name, tmp_path):
    """Every alignment run loads its recipe YAML with these overrides: a typo would
    only fail in the alignment stage, after every training stage had run."""
    from speechbrain_align.utils.errors import load_recipe_hparams

    hp = _load(name)
    root = os.path.join(HPARAMS, "..", "..", "..", "..")
    assert set(hp["alignment_overrides"]) == set(hp["alignment_hparams"]) >= set(
        hp["unsupervised_methods"]) | {"supervised"}
    for row, methods in hp["row_methods"].items():
        assert row in hp["unsupervised_rows"] and set(methods) <= set(hp["alignment_hparams"])
    criterion_words = {}
    for method, overrides in hp["alignment_overrides"].items():
        loaded = load_recipe_hparams(
            os.path.join(root, hp["alignment_hparams"][method]),
            dict(overrides, src_vec="a.vec", tgt_vec="b.vec", output_folder=str(tmp_path / method)))
        assert loaded["method"] == method
        for key, value in overrides.items():
            assert loaded[key] == value, (name, method, key)
        criterion_words[method] = loaded["criterion_words"]
    # the restart policy compares criteria across methods: one word count for all
    assert len(set(criterion_words.values())) == 1, (name, criterion_words)
