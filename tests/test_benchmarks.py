"""Benchmarks that keep their finished work: alignment_stability resumes."""
import json
import logging
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import alignment_stability  # noqa: E402


def _runs(out):
    with open(os.path.join(out, "stability_runs.json"), encoding="utf-8") as handle:
        return json.load(handle)


def test_stability_resumes_finished_seeds(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="alignment_stability")
    out = str(tmp_path / "stab")
    args = ["--corpus", "synthetic", "--vocab", "300", "--dim", "10", "--dico_top", "300",
            "--methods", "vecmap", "--seeds", "2", "--out", out,
            "--vecmap", '{"init_vocab": 200, "vocab_cutoff": 200, "n_refinement": 1}']
    alignment_stability.main(args)
    first = _runs(out)
    assert [r["seed"] for r in first] == [0, 1]
    # one more seed: seeds 0 and 1 are kept as they were, only seed 2 runs
    caplog.clear()
    alignment_stability.main(args[:-5] + ["3"] + args[-4:])
    again = _runs(out)
    assert [r["seed"] for r in again] == [0, 1, 2]
    assert again[:2] == first
    assert caplog.text.count("finished earlier, kept") == 2
    # changed settings: a new fingerprint, every seed runs again
    caplog.clear()
    alignment_stability.main(args[:-1] + ['{"init_vocab": 200, "vocab_cutoff": 200, '
                                          '"n_refinement": 2}'])
    assert "finished earlier" not in caplog.text
    changed = [r for r in _runs(out) if r["fingerprint"] != first[0]["fingerprint"]]
    assert [r["seed"] for r in changed] == [0, 1]
    with open(os.path.join(out, "stability.json"), encoding="utf-8") as handle:
        assert json.load(handle)["summary"]["vecmap"]["runs"] == 2
