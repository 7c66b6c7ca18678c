"""Basin hopping after the refinement (``alignment.refinement.hop_refine``)."""

import pathlib

import numpy as np
import pytest
import scipy.linalg

from speechbrain_align.alignment.criterion import mean_cosine_criterion
from speechbrain_align.alignment.mappings import AlignmentError
from speechbrain_align.alignment.normalization import normalize_embeddings
from speechbrain_align.alignment.pipeline import align
from speechbrain_align.alignment.procrustes import procrustes
from speechbrain_align.alignment.refinement import hop_refine, refine
from speechbrain_align.alignment.self_learning import self_learning
from speechbrain_align.alignment.synthetic import synthetic_pair
from speechbrain_align.utils.errors import load_recipe_hparams

RECIPE = pathlib.Path(__file__).resolve().parents[1] / "recipes" / "TextToText" / "alignment"
KW = dict(n_iters=5, criterion_words=500, dico_max_rank=400, dico_mode=["mutual", "union"],
          patience=2)
LONG = dict(KW, n_iters=30, patience=None)


@pytest.fixture(scope="module")
def stuck():
    """A noisy pair and a start from which the refinement alone stops in a wrong fixed point."""
    src, tgt, _ = synthetic_pair(800, 20, noise=0.3, n_clusters=30, seed=3)
    src, tgt = src.sorted_by_count(), tgt.sorted_by_count()
    gold = np.array([[i, tgt.index[w]] for i, w in enumerate(src.words)])
    x, y = normalize_embeddings(src.vectors), normalize_embeddings(tgt.vectors)
    a = np.random.default_rng(2).normal(size=(20, 20)) * 0.4
    rough = scipy.linalg.expm(a - a.T) @ procrustes(x[gold[:, 0]], y[gold[:, 1]])
    w, _ = refine(x, y, rough, **LONG)
    return src, tgt, gold, x, y, w


def test_hops_leave_the_refinements_fixed_point(stuck):
    _, _, _, x, y, w = stuck
    crit = lambda m: mean_cosine_criterion(x @ m.T, y, 500, 10)  # noqa: E731
    again, _ = refine(x, y, w, **LONG)  # 30 more iterations gain little
    assert crit(again) < crit(w) + 0.001
    hopped, log = hop_refine(x, y, w, hops=10, seed=0, **KW)
    kept = [h["criterion"] for h in log if h["accepted"]]
    assert kept == sorted(kept) and crit(hopped) == pytest.approx(kept[-1])
    assert all(h["criterion"] <= kept[-1] for h in log) and crit(hopped) > crit(again) + 0.001


def test_hops_are_seeded_and_zero_hops_change_nothing(stuck):
    _, _, _, x, y, w = stuck
    a, log_a = hop_refine(x, y, w, hops=3, seed=5, **KW)
    b, log_b = hop_refine(x, y, w, hops=3, seed=5, **KW)
    assert np.array_equal(a, b) and [h["criterion"] for h in log_a] == [h["criterion"] for h in log_b]
    same, log = hop_refine(x, y, w, hops=0, **KW)
    assert log == [] and np.array_equal(same, np.asarray(w, dtype=np.float32))
    with pytest.raises(ValueError, match="keep"):
        hop_refine(x, y, w, hops=1, keep=0, **KW)


def test_pipeline_runs_the_hops_and_names_bad_settings(stuck, tmp_path):
    src, tgt, gold, *_ = stuck

    def hparams(**overrides):
        return load_recipe_hparams(RECIPE / "hparams" / "vecmap.yaml", dict(
            dict(stochastic_interval=3, n_refinement=2, seed=1, criterion_words=500), **overrides,
            src_vec="-", tgt_vec="-", emb_dim=20, output_folder=str(tmp_path)))

    w, log = align(src, tgt, hparams(refinement_hops=2))
    assert log["hops"]["hops"] == 2 and 0 <= log["hops"]["kept"] <= 2
    assert "hops" not in align(src, tgt, hparams())[1]
    with pytest.raises(AlignmentError, match="hop_keep: 1.5"):
        align(src, tgt, hparams(refinement_hops=2, hop_keep=1.5))
    with pytest.raises(AlignmentError, match="refinement_hops: -1"):
        align(src, tgt, hparams(refinement_hops=-1))


def test_a_fixed_point_ends_refinement_and_self_learning_with_the_same_map(stuck):
    src, tgt, gold, x, y, w = stuck
    fast, log_fast = refine(x, y, w, **LONG)
    slow, log_slow = refine(x, y, w, **LONG, stop_at_fixed_point=False)
    assert np.array_equal(fast, slow) and len(log_fast) < len(log_slow) == 61
    assert max(s["criterion"] for s in log_fast) == max(s["criterion"] for s in log_slow)
    fast, log_fast = hop_refine(x, y, w, hops=4, seed=1, **KW)
    slow, log_slow = hop_refine(x, y, w, hops=4, seed=1, **KW, stop_at_fixed_point=False)
    assert np.array_equal(fast, slow)
    assert [h["criterion"] for h in log_fast] == [h["criterion"] for h in log_slow]
    seed_pairs = gold[:60]
    kw = dict(vocab_cutoff=600, stochastic_interval=3, max_iters=60, seed=2)
    fast, log_fast = self_learning(x, y, seed_pairs, **kw)
    slow, log_slow = self_learning(x, y, seed_pairs, **kw, stop_at_fixed_point=False)
    assert np.array_equal(fast, slow) and len(log_fast) < len(log_slow)
    assert log_fast[-1]["keep_prob"] == 1.0
