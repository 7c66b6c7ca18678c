"""The experiment's alignment grid: runs in worker processes give the results of one process."""
import json
import os
import sys

import numpy as np
import pytest
import torch

from speechbrain_align.alignment.synthetic import synthetic_pair
from speechbrain_align.dataio.vectors import Embeddings
from speechbrain_align.evaluation.crossmodal import label_space
from speechbrain_align.utils.errors import HparamsError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "recipes", "Bible", "experiment"))
from alignment_grid import align_all  # noqa: E402

HPARAMS = {m: f"recipes/TextToText/alignment/hparams/{f}.yaml" for m, f in
           (("adversarial", "muse"), ("vecmap", "vecmap"), ("supervised", "supervised"))}
REFINE = {"n_refinement": 3, "dico_max_rank": 200, "criterion_words": 200}
OVERRIDES = {
    "adversarial": dict(REFINE, map_orthogonalize="svd", map_lr=1.0, n_epochs=1, epoch_size=100,
                        max_rank=200, dis_hidden=32),
    "vecmap": dict(REFINE, init_vocab=200, vocab_cutoff=200, stochastic_interval=2, max_iters=10),
    "supervised": {"criterion_words": 200},
}


def _grid():
    src, tgt, _ = synthetic_pair(300, 10, noise=0.01, n_clusters=10, seed=3)
    rng = np.random.default_rng(0)
    ids = [f"seg{i}" for i in range(200)]
    words = [src.words[i % 100] for i in range(200)]
    queries = src.vectors[[src.index[w] for w in words]] + 0.01 * rng.normal(size=(200, 10))
    rows = [{"ID": i, "word": w} for i, w in zip(ids, words)]
    space = label_space("A", src, Embeddings(ids, queries.astype(np.float32)), rows)
    foreign = Embeddings([f"f{w}" for w in tgt.words], tgt.vectors, tgt.counts)
    lexicon = {"en_es": [(w, f"f{w}") for w in tgt.words], "synonyms": {}}
    return {"A": space}, {"same": tgt, "es": foreign}, lexicon


def test_workers_give_the_results_of_one_process(tmp_path):
    spaces, texts, lexicon = _grid()
    hp = {"seed": 1, "alignment_hparams": HPARAMS, "alignment_overrides": OVERRIDES,
          "unsupervised_rows": {"A": 1},
          "unsupervised_methods": ["adversarial", "vecmap"], "translation_test_fraction": 0.5}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as run_experiment.py; the workers get one thread too
    blas = os.environ.pop("OPENBLAS_NUM_THREADS", None)
    try:
        one = align_all(spaces, texts, lexicon, dict(hp, alignment_workers=1), str(tmp_path / "one"))
        two = align_all(spaces, texts, lexicon, dict(hp, alignment_workers=2), str(tmp_path / "two"))
        # the workers' one-thread BLAS setting does not leak into this process's environment
        assert "OPENBLAS_NUM_THREADS" not in os.environ
    finally:
        torch.set_num_threads(threads)
        if blas is not None:
            os.environ["OPENBLAS_NUM_THREADS"] = blas
    assert one == two
    # scored as each run finished, reported in table order
    assert list(one["classification"]) == ["A*", "A (adversarial)", "A (vecmap)"]
    assert list(two["classification"]) == list(one["classification"])
    # the grid really aligned (a rotation with 1% noise): not a vacuous equality
    # (adversarial training at this test's budget does not find it: compared
    # byte for byte all the same; tests/test_alignment.py shows it recovering one)
    for row in ("A*", "A (vecmap)"):
        assert one["classification"][row]["same"]["csls_P@1"] > 90, one["classification"][row]
        assert one["translation"][row]["es"]["csls_P@1"] > 90, one["translation"][row]
    for run in ("A_same_adversarial", "A_es_vecmap", "A_same_supervised"):
        a = np.load(tmp_path / "one" / "alignment" / run / "mapping.npy")
        b = np.load(tmp_path / "two" / "alignment" / run / "mapping.npy")
        assert np.array_equal(a, b), run
    log = json.loads((tmp_path / "two" / "alignment_log.json").read_text())
    assert list(log) == list(json.loads((tmp_path / "one" / "alignment_log.json").read_text()))
    assert log["A (adversarial)/same"]["criterion"] == json.loads(
        (tmp_path / "one" / "alignment_log.json").read_text())["A (adversarial)/same"]["criterion"]
    assert log["A (adversarial)/same"]["criterion"] is not None


def test_restarts_run_only_where_no_other_method_confirms(tmp_path):
    spaces, texts, lexicon = _grid()
    # a second target where the identity is the answer: adversarial training at
    # this budget starts there and keeps it, so both methods find the mapping
    same = texts["same"]
    src_types = spaces["A"].types
    noise = np.random.default_rng(1).normal(scale=0.01, size=src_types.vectors.shape)
    texts = {"same": Embeddings(src_types.words, (src_types.vectors + noise).astype(np.float32),
                                src_types.counts),
             "rotated": same}
    hp = {"seed": 1, "alignment_hparams": HPARAMS, "alignment_overrides": OVERRIDES,
          "unsupervised_rows": {"A": {"same": 2, "rotated": 3}},
          "unsupervised_methods": ["adversarial", "vecmap"],
          "translation_test_fraction": 0.5, "alignment_workers": 1,
          "restart_agreement": 0.1, "agreement_words": 100}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        align_all(spaces, texts, lexicon, hp, str(tmp_path / "agree"))
        align_all(spaces, texts, lexicon, dict(hp, restart_agreement=None), str(tmp_path / "all"))
    finally:
        torch.set_num_threads(threads)
    log = json.loads((tmp_path / "agree" / "alignment_log.json").read_text())
    every = json.loads((tmp_path / "all" / "alignment_log.json").read_text())
    # identity target: the methods agree, so one run each
    for method in ("adversarial", "vecmap"):
        entry = log[f"A ({method})/same"]
        other = "vecmap" if method == "adversarial" else "adversarial"
        assert entry["agreement"][other] > 0.9, entry
        assert [r["seed"] for r in entry["restarts"]] == [1]
        assert entry["criterion"] == every[f"A ({method})/same"]["restarts"][0]["criterion"]
    # rotated target: adversarial fails at this budget, so no run is confirmed; the
    # method with the lower criterion runs its seeds one after another (as without
    # the policy), the other waits for a confirmation that never comes: one run
    first = {m: log[f"A ({m})/rotated"]["restarts"][0]["criterion"] for m in ("adversarial", "vecmap")}
    lower = min(first, key=first.get)
    for method in ("adversarial", "vecmap"):
        entry = log[f"A ({method})/rotated"]
        assert max(entry["agreement"].values()) < 0.1, entry
        seeds = [1, 2, 3] if method == lower else [1]
        assert [r["seed"] for r in entry["restarts"]] == seeds
        assert all(max(r["agreement"].values()) < 0.1 for r in entry["restarts"]), entry
        assert ([(r["seed"], r["criterion"]) for r in entry["restarts"]]
                == [(r["seed"], r["criterion"]) for r in every[f"A ({method})/rotated"]["restarts"]][:len(seeds)])
        assert entry["criterion"] == max(r["criterion"] for r in entry["restarts"])
    folder = tmp_path / "agree" / "alignment" / f"A_rotated_{lower}"
    assert (folder / "restart1" / "mapping.npy").exists()
    assert (folder / "restart2" / "mapping.npy").exists()
    kept = json.loads((folder / "log.json").read_text())
    assert kept["criterion"] == log[f"A ({lower})/rotated"]["criterion"] and len(kept["restarts"]) == 3
    np.testing.assert_array_equal(
        np.load(folder / "mapping.npy"),
        np.load(tmp_path / "all" / "alignment" / f"A_rotated_{lower}" / "mapping.npy"))
    assert max(first.values()) > min(first.values())  # the order was decided by the criteria
    assert "agreement" not in every["A (vecmap)/same"] or every["A (vecmap)/same"]["agreement"] is None


def _scripted_grid(tmp_path, monkeypatch, script, rows=None, conditions=("same",), calls=None,
                   extra=None):
    """align_all where run (method, seed) gives the true map or a wrong one with a set criterion.

    ``calls`` collects ``(method, condition, seed)`` in the order the runs start; ``extra``
    adds experiment keys."""
    import alignment_grid

    spaces, texts, lexicon = _grid()
    src, tgt, q = synthetic_pair(300, 10, noise=0.01, n_clusters=10, seed=3)

    def scripted(job):
        seed = job["overrides"]["seed"]
        if calls is not None:
            calls.append((job["method"], job["cond"], seed))
        good, crit = script.get((job["method"], seed), (True, 0.9))
        # each failed run its own wrong map: failures agree with nothing
        draw = np.random.default_rng([seed, job["method"] == "vecmap"])
        wrong = np.linalg.qr(draw.normal(size=(10, 10)))[0]
        os.makedirs(job["overrides"]["output_folder"], exist_ok=True)
        info = {"normalize": ["unit"], "criterion": crit, "method": job["method"],
                "restarts": [{"seed": seed, "criterion": crit}]}
        return (q if good else wrong).astype(np.float32), info, 0.0

    monkeypatch.setattr(alignment_grid, "_align_job", scripted)
    hp = {"seed": 1, "alignment_hparams": HPARAMS, "alignment_overrides": OVERRIDES,
          "unsupervised_rows": rows or {"A": {"same": 4, "es": 1}},
          "unsupervised_methods": ["adversarial", "vecmap"], "translation_test_fraction": 0.5,
          "alignment_workers": 1, "restart_agreement": 0.3, "agreement_words": 100,
          **(extra or {})}
    results = align_all(spaces, {c: texts[c] for c in conditions}, lexicon, hp, str(tmp_path))
    log = json.loads((tmp_path / "alignment_log.json").read_text())
    if conditions != ("same",):
        return results, log
    return results, log["A (adversarial)/same"], log["A (vecmap)/same"], q


def test_a_confirmed_restart_ends_the_restarts(tmp_path, monkeypatch):
    """Adversarial fails from its first seed and succeeds from the next."""
    results, adversarial, vecmap, q = _scripted_grid(
        tmp_path, monkeypatch, {("adversarial", 1): (False, 0.5)})
    # seed 1 failed (agrees with nothing); seed 2 is confirmed by vecmap: no seed 3 or 4
    assert [r["seed"] for r in adversarial["restarts"]] == [1, 2]
    assert adversarial["restarts"][0]["agreement"]["vecmap"] < 0.3
    assert adversarial["restarts"][1]["agreement"]["vecmap"] > 0.9
    assert adversarial["criterion"] == 0.9 and adversarial["agreement"]["vecmap"] > 0.9
    # vecmap's first run had the higher criterion: it waited for adversarial's restarts
    # instead of restarting, and the second one confirmed it
    assert [r["seed"] for r in vecmap["restarts"]] == [1]
    assert vecmap["agreement"]["adversarial"] > 0.9
    assert results["classification"]["A (adversarial)"]["same"]["csls_P@1"] > 90
    kept = np.load(tmp_path / "alignment" / "A_same_adversarial" / "mapping.npy")
    np.testing.assert_allclose(kept, q, atol=1e-6)


def test_the_method_below_another_criterion_restarts(tmp_path, monkeypatch):
    """Both first runs fail; vecmap's restart finds the map with a criterion above adversarial's."""
    _, adversarial, vecmap, _ = _scripted_grid(tmp_path, monkeypatch, {
        ("adversarial", 1): (False, 0.7), ("vecmap", 1): (False, 0.5)})
    # vecmap (lower) restarted first; its seed 2 (0.9) put adversarial below: it restarted
    # too, and the two second runs confirmed each other
    assert [r["seed"] for r in vecmap["restarts"]] == [1, 2]
    assert [r["seed"] for r in adversarial["restarts"]] == [1, 2]
    assert adversarial["criterion"] == vecmap["criterion"] == 0.9
    assert adversarial["agreement"]["vecmap"] > 0.9


def test_an_unconfirmed_best_criterion_is_kept_when_the_others_run_out(tmp_path, monkeypatch):
    script = {("vecmap", s): (False, 0.5 + s / 100) for s in range(1, 5)}
    _, adversarial, vecmap, _ = _scripted_grid(tmp_path, monkeypatch, script)
    assert [r["seed"] for r in vecmap["restarts"]] == [1, 2, 3, 4]  # all its seeds
    assert [r["seed"] for r in adversarial["restarts"]] == [1]  # waited, then kept
    assert vecmap["criterion"] == 0.54 and adversarial["agreement"]["vecmap"] < 0.3


def test_a_condition_with_no_runs(tmp_path, monkeypatch):
    """0 runs on a condition: the supervised row only there, the unsupervised ones elsewhere."""
    results, log = _scripted_grid(tmp_path, monkeypatch, {}, rows={"A": {"same": 1, "es": 0}},
                                  conditions=("same", "es"))
    assert sorted(log) == ["A (adversarial)/same", "A (vecmap)/same", "A*/es", "A*/same"]
    assert set(results["translation"]) == {"A*"}
    assert set(results["classification"]) == {"A*", "A (adversarial)", "A (vecmap)"}


def test_a_restart_goes_ahead_of_the_queued_first_runs(tmp_path, monkeypatch):
    calls = []
    _, log = _scripted_grid(tmp_path, monkeypatch, {("adversarial", 1): (False, 0.5)},
                            rows={"A": {"same": 4, "es": 1}}, conditions=("same", "es"),
                            calls=calls)
    calls = [c for c in calls if c[0] != "supervised"]
    assert calls == [("adversarial", "same", 1), ("vecmap", "same", 1),
                     ("adversarial", "same", 2), ("adversarial", "es", 1), ("vecmap", "es", 1)]
    assert [r["seed"] for r in log["A (adversarial)/same"]["restarts"]] == [1, 2]


def test_min_runs_gives_a_confirmed_method_runs_to_choose_from(tmp_path, monkeypatch):
    """Both methods succeed at once; vecmap still runs two seeds and keeps the better criterion,
    and only where its row has restarts (es: one run)."""
    script = {("vecmap", 1): (True, 0.80), ("vecmap", 2): (True, 0.85)}
    _, log = _scripted_grid(tmp_path, monkeypatch, script, conditions=("same", "es"),
                            extra={"min_runs": {"vecmap": 2}})
    assert [r["seed"] for r in log["A (vecmap)/same"]["restarts"]] == [1, 2]
    assert log["A (vecmap)/same"]["criterion"] == 0.85
    assert [r["seed"] for r in log["A (adversarial)/same"]["restarts"]] == [1]
    assert [r["seed"] for r in log["A (vecmap)/es"]["restarts"]] == [1]
    # without it the confirmation ends vecmap's runs after the first
    _, _, vecmap, _ = _scripted_grid(tmp_path / "without", monkeypatch, script)
    assert [r["seed"] for r in vecmap["restarts"]] == [1] and vecmap["criterion"] == 0.80


@pytest.mark.parametrize("value, message", [
    ({"gw": 2}, "'gw' is not a method"), ({"vecmap": 0}, "expected a whole number >= 1"),
    ({"vecmap": "2"}, "expected a whole number >= 1"), ([2], "expected a mapping")])
def test_min_runs_errors_name_the_key(value, message):
    import alignment_grid

    with pytest.raises(HparamsError, match=f"min_runs: .*{message}"):
        alignment_grid.check_min_runs({"alignment_hparams": HPARAMS, "min_runs": value})


def test_grid_runs_the_gw_method(tmp_path):
    """``gw`` is a method of the grid like the others: its row is scored and logged."""
    spaces, texts, lexicon = _grid()
    gw_yaml = "recipes/TextToText/alignment/hparams/gw.yaml"
    hp = {"seed": 1, "alignment_hparams": dict(HPARAMS, gw=gw_yaml),
          "alignment_overrides": dict(OVERRIDES, gw=dict(REFINE, gw_vocab=200, gw_epsilon=0.005,
                                                         vocab_cutoff=200, stochastic_interval=2,
                                                         max_iters=10)),
          "unsupervised_rows": {"A": 1}, "unsupervised_methods": ["gw"],
          "translation_test_fraction": 0.5, "alignment_workers": 1}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = align_all(spaces, texts, lexicon, hp, str(tmp_path))
    finally:
        torch.set_num_threads(threads)
    assert list(results["classification"]) == ["A*", "A (gw)"]
    assert results["classification"]["A (gw)"]["same"]["csls_P@1"] > 90
    log = json.loads((tmp_path / "alignment_log.json").read_text())
    assert log["A (gw)/same"]["criterion"] is not None
    run_log = json.loads((tmp_path / "alignment" / "A_same_gw" / "log.json").read_text())
    assert run_log["method"] == "gw"


def test_a_method_with_basin_hops_starts_first_in_its_pair(tmp_path, monkeypatch):
    """Its runs are the longest: in each (row, condition) it goes first, pairs in table order."""
    calls = []
    overrides = dict(OVERRIDES, vecmap=dict(OVERRIDES["vecmap"], refinement_hops=2))
    _scripted_grid(tmp_path, monkeypatch, {}, rows={"A": {"same": 4, "es": 1}},
                   conditions=("same", "es"), calls=calls,
                   extra={"alignment_overrides": overrides})
    calls = [c for c in calls if c[0] != "supervised"]
    assert calls == [("vecmap", "same", 1), ("adversarial", "same", 1),
                     ("vecmap", "es", 1), ("adversarial", "es", 1)]
