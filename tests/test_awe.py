"""Acoustic word embeddings: AP metric, pair mining + LDA, VTLN, soft units, the
recipe end to end with resume, and the contrastive Brain route; tiny synthetic data."""

import json
import os

import numpy as np
import pytest
import soundfile
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_align.dataio.manifest import Segment, write_segment_manifest
from speechbrain_align.dataio.vectors import load_embeddings
from speechbrain_align.evaluation.awe_metrics import (
    average_precision_from_counts,
    cluster_purity,
    evaluation_sample,
    same_different_ap,
)
from speechbrain_align.speech.awe import (
    LinearAWE,
    context_pairs,
    cross_speaker_pairs,
    select_n_units,
    standardize_by_speaker,
    train_lda_awe,
    utterance_neighbours,
)
from speechbrain_align.speech.soft_units import sample_soft_labels
from speechbrain_align.speech.vtln import WarpedMFCC, estimate_warps, warped_mel_matrix

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YAML = os.path.join(REPO, "recipes", "Bible", "awe", "hparams", "awe.yaml")
RATE = 16000


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def exact_ap(scores, labels):
    """AP by sorting (no ties in the tests' scores)."""
    order = np.argsort(-scores)
    hits = labels[order]
    return float((np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)).mean())


def test_ap_hand_made_and_against_sorting():
    # 4 segments: words a a b b; speakers s t s t with accents A A B... -> kinds known
    v = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]])
    r = same_different_ap(v, ["a", "a", "b", "b"], ["s", "t", "s", "t"], accents={"s": "A", "t": "B"})
    # cross-accent pairs (0,1) .8 pos, (0,3) .6 neg, (2,1) .6 neg, (2,3) .8 pos -> AP 1
    assert r["sd_ap_cross_accent"] == 1.0 and r["n_pairs_cross_accent"] == 4
    assert r["sd_ap_same_speaker"] is None and r["n_pairs_same_speaker"] == 2
    assert average_precision_from_counts([0, 1], [1, 0]) == 0.5

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    words = rng.choice(list("abcd"), 60)
    spk = rng.choice(["s1", "s2", "s3"], 60)
    res = same_different_ap(x, words, spk, accents={"s1": "A", "s2": "A", "s3": "B"}, bins=2_000_000)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    i, j = np.triu_indices(60, 1)
    score, pos = (xn[i] * xn[j]).sum(1), words[i] == words[j]
    acc = {"s1": "A", "s2": "A", "s3": "B"}
    same_acc = np.array([acc[a] == acc[b] for a, b in zip(spk[i], spk[j])])
    kinds = {"same_speaker": spk[i] == spk[j], "cross_speaker_same_accent": same_acc & (spk[i] != spk[j]),
             "cross_accent": ~same_acc}
    for kind, mask in kinds.items():
        assert res[f"sd_ap_{kind}"] == pytest.approx(exact_ap(score[mask], pos[mask]), abs=1e-6)
        assert res[f"n_pairs_{kind}"] == mask.sum()


def test_focus_speakers_and_purity():
    v = np.eye(4)
    # focus t only: pairs (s,t) count only when same accent
    r = same_different_ap(v, list("aabb"), ["s", "t", "u", "t"], accents={"s": "A", "t": "A", "u": "B"},
                          focus=["t"])
    assert r["n_pairs_same_speaker"] == 1 and r["n_pairs_cross_speaker_same_accent"] == 2
    assert r["n_pairs_cross_accent"] == 0
    assert cluster_purity([0, 0, 1, 1, 1], list("aabbc")) == (0.8, 1.0)
    assert cluster_purity([0, 1, 2, 2], list("aabb")) == (1.0, 0.75)
    rows = evaluation_sample(["s", "t", "u", "t"], ["t"], {"s": "A", "t": "A", "u": "B"})
    assert rows.tolist() == [0, 1, 3]


def speaker_data(n_words=30, n_speakers=4, tokens=6, dim=12, shift=3.0, noise=0.2, seed=0):
    """Word centroids + a large per-speaker offset + token noise."""
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(n_words, dim)) * 2
    offsets = rng.normal(size=(n_speakers, dim)) * shift
    x, words, spk = [], [], []
    for s in range(n_speakers):
        for w in range(n_words):
            for _ in range(tokens):
                x.append(centroids[w] + offsets[s] * (1 + 0.3 * np.sin(w)) + noise * rng.normal(size=dim))
                words.append(f"w{w}")
                spk.append(f"s{s}")
    return np.array(x, np.float32), np.array(words), np.array(spk)


def test_pair_miner_and_lda_make_speakers_meet(tmp_path):
    x, words, spk = speaker_data()
    xs = standardize_by_speaker(x, spk)
    pairs = cross_speaker_pairs(xs, spk, k=3, candidates=40)
    assert len(pairs) > 100
    assert (spk[pairs[:, 0]] != spk[pairs[:, 1]]).all() and (pairs[:, 0] < pairs[:, 1]).all()
    assert (words[pairs[:, 0]] == words[pairs[:, 1]]).mean() > 0.8
    before = same_different_ap(x, words, spk)["sd_ap_cross_accent"]
    model = train_lda_awe(xs, spk, rounds=2, k=3, candidates=40, dim=8, pca_dim=10, words=words)
    after = same_different_ap(model.transform(xs), words, spk)["sd_ap_cross_accent"]
    assert before < 0.5 and after > 0.9
    assert [r["round"] for r in model.rounds] == [0, 1]
    assert model.rounds[1]["pair_precision_eval_only"] > 0.8

    # resume: a checkpoint after round 0, then 2 rounds, equals the straight run
    from speechbrain.utils.checkpoints import Checkpointer

    part = LinearAWE()
    ckpt = Checkpointer(str(tmp_path / "ckpt"), recoverables={"lda": part})
    train_lda_awe(xs, spk, rounds=1, k=3, candidates=40, dim=8, pca_dim=10, model=part, checkpointer=ckpt)
    resumed = LinearAWE()
    Checkpointer(str(tmp_path / "ckpt"), recoverables={"lda": resumed}).recover_if_possible()
    assert len(resumed.rounds) == 1 and np.allclose(resumed.weight, part.weight)
    train_lda_awe(xs, spk, rounds=2, k=3, candidates=40, dim=8, pca_dim=10, model=resumed)
    assert np.allclose(np.abs(resumed.weight), np.abs(model.weight), atol=1e-4)

    k, table = select_n_units(model.transform(xs), spk, grid=(10, 30, 120), tolerance=0.06, max_segments=None)
    assert [t["n_units"] for t in table] == [10, 30, 120]
    assert k == 30  # 30 words: agreement holds up to 30 units, drops when words split


def phrase_data(n_speakers=4, repeats=3, dim=12, noise=0.3, seed=0):
    """Speakers saying phrases; phrase pairs share a context (w_a ? w_b) around different centres."""
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(24, dim)) * 2
    offsets = rng.normal(size=(n_speakers, dim)) * 3.0
    phrases = [[3 * i, 3 * i + 1, 3 * i + 2] for i in range(8)]
    phrases += [[3 * i, (3 * i + 4) % 24, 3 * i + 2] for i in range(8)]  # same context, other centre
    x, words, spk, utt, pos = [], [], [], [], []
    for s in range(n_speakers):
        for p, phrase in enumerate(phrases):
            for r in range(repeats):
                for i, w in enumerate(phrase):
                    x.append(centroids[w] + offsets[s] + noise * rng.normal(size=dim))
                    words.append(f"w{w}")
                    spk.append(f"s{s}")
                    utt.append(f"s{s}_p{p}_{r}")
                    pos.append(i)
    return np.array(x, np.float32), np.array(words), np.array(spk), utt, pos


def test_context_pairs_pair_centres_of_matching_contexts():
    x, words, spk, utt, pos = phrase_data()
    xs = standardize_by_speaker(x, spk)
    prev, nxt = utterance_neighbours([dict(utt_id=u, position=p) for u, p in zip(utt, pos)])
    assert prev[1] == 0 and nxt[1] == 2 and prev[0] == -1 and nxt[2] == -1
    start = train_lda_awe(xs, spk, rounds=1, k=3, candidates=40, dim=8, pca_dim=10)
    z = start.transform(xs)
    loose = context_pairs(z, spk, prev, nxt, k=3, candidates=40, min_cos=-1.0)
    pairs = context_pairs(z, spk, prev, nxt, k=3, candidates=40, min_cos=0.5)
    precision = lambda p: (words[p[:, 0]] == words[p[:, 1]]).mean()  # noqa: E731
    assert len(pairs) > 50 and (spk[pairs[:, 0]] != spk[pairs[:, 1]]).all() and (pairs[:, 0] < pairs[:, 1]).all()
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    assert ((zn[pairs[:, 0]] * zn[pairs[:, 1]]).sum(1) >= 0.5).all()
    assert precision(loose) < 0.9 < precision(pairs)  # the centre filter removes the shared-context pairs

    model = train_lda_awe(xs, spk, rounds=1, k=3, candidates=40, dim=8, context=(prev, nxt), start=start,
                          min_cos=0.5, words=words)
    assert model.rounds[0]["mined"] == "contexts" and model.rounds[0]["pair_precision_eval_only"] > 0.9
    assert same_different_ap(model.transform(xs), words, spk)["sd_ap_cross_accent"] > 0.9
    with pytest.raises(ValueError, match="start"):
        train_lda_awe(xs, spk, rounds=1, context=(prev, nxt))


def test_context_pairs_each_side_finds_a_word_whose_other_neighbour_differs():
    a, b, c, d, f, g = np.eye(6, dtype="float32")
    e = 0.8 * a + 0.6 * g
    z = np.array([a, c, b, a, c, d, e, f, b])  # speakers s: "a c b", t: "a c d", u: "e f b"
    prev, nxt = utterance_neighbours([dict(utt_id=u, position=p) for u in "stu" for p in range(3)])
    speakers = list("ssstttuuu")
    # both sides: c's best context match is u's f (same right neighbour), whose centre is
    # too far, so the two c's are never paired; one side at a time pairs them
    assert context_pairs(z, speakers, prev, nxt, k=1, candidates=8).tolist() == [[0, 3]]
    assert context_pairs(z, speakers, prev, nxt, k=1, candidates=8, sides="each").tolist() == [[0, 3], [1, 4]]
    with pytest.raises(ValueError, match="sides"):
        context_pairs(z, speakers, prev, nxt, sides="left")


def test_warped_filterbank_moves_centres():
    base, warped = warped_mel_matrix(1.0), warped_mel_matrix(1.2)
    freqs = np.linspace(0, 8000, base.shape[0])
    centre = lambda m: (freqs[:, None] * m).sum(0) / m.sum(0)  # noqa: E731
    low = slice(3, 20)  # below the knee, centres scale by alpha
    assert np.allclose(centre(warped)[low] / centre(base)[low], 1.2, atol=0.05)


def tone(word, scale, rng, dur=0.25):
    t = np.arange(int(dur * RATE)) / RATE
    f1, f2 = 300 + 120 * (word % 5), 1200 + 300 * (word // 5)
    env = np.sin(np.pi * t / dur)
    sig = sum(a * np.sin(2 * np.pi * scale * f * t) for a, f in ((1.0, f1), (0.6, f2), (0.3, 2.3 * f2)))
    return (0.2 * env * sig + 0.002 * rng.normal(size=len(t))).astype(np.float32)


def make_corpus(folder, scales=(1.0, 1.0, 1.25), n_utts=6, n_words=10, seed=0):
    """Tone-word utterances by speakers whose frequencies are scaled (a 'vocal tract')."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    splits = {"train": [], "test": []}
    for s, scale in enumerate(scales):
        split = "test" if s == len(scales) - 1 else "train"
        for u in range(n_utts):
            wav = os.path.join(folder, f"spk{s}_u{u}.wav")
            pieces, pos = [np.zeros(800, np.float32)], 0.05
            for p, w in enumerate(rng.integers(n_words, size=5)):
                sig = tone(int(w), scale, rng)
                splits[split].append(Segment(wav, pos, pos + len(sig) / RATE, f"w{w}", f"spk{s}",
                                             f"spk{s}_u{u}", p))
                pieces += [sig, np.zeros(480, np.float32)]
                pos += (len(sig) + 480) / RATE
            soundfile.write(wav, np.concatenate(pieces), RATE)
    for split, segs in splits.items():
        write_segment_manifest(segs, os.path.join(folder, f"{split}.csv"))
    table = [{"spk_id": f"spk{s}", "voice": f"acc{s % 2}+v{s}"} for s in range(len(scales))]
    with open(os.path.join(folder, "corpus_stats.json"), "w") as handle:
        json.dump({"speaker_table": table}, handle)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(str(tmp_path_factory.mktemp("awe_tones")))


def test_vtln_finds_the_scaled_speaker(corpus):
    from speechbrain_align.dataio.manifest import read_segment_manifest

    rows = read_segment_manifest(os.path.join(corpus, "train.csv"))
    rows += read_segment_manifest(os.path.join(corpus, "test.csv"))
    warps, history = estimate_warps(rows, WarpedMFCC(deltas=False), grid=(0.8, 0.9, 1.0, 1.1, 1.25, 1.4),
                                    files_per_speaker=3, sweeps=2)
    assert history
    assert warps["spk2"] / warps["spk0"] == pytest.approx(1.25, abs=0.13)
    assert warps["spk0"] == warps["spk1"]


def _hparams(corpus, out, extra=""):
    overrides = (
        f"data_folder: {corpus}\noutput_folder: {out}\n"
        f"manifests: [{corpus}/train.csv, {corpus}/test.csv]\neval_csv: {corpus}/test.csv\n"
        f"corpus_stats: {corpus}/corpus_stats.json\nfeature_workers: 1\n"
        "vtln_grid_min: 0.9\nvtln_grid_max: 1.3\nvtln_grid_step: 0.1\nvtln_files_per_speaker: 3\n"
        "mine_segments: null\nmine_k: 2\nmine_candidates: 20\nmine_pca_dim: 20\nlda_dim: 16\n"
        "n_units_grid: [5, 10, 20]\nn_units_max_segments: null\nap_bins: 2000\n"
        "context_k: 3\ncontext_min_cos: -1.0\n" + extra
    )
    import yaml

    merged = dict(yaml.safe_load(overrides.replace(extra, "")), **(yaml.safe_load(extra) or {}))
    with open(YAML, encoding="utf-8") as handle:
        return load_hyperpyyaml(handle, merged)


def test_recipe_end_to_end_and_resume(corpus, tmp_path, monkeypatch):
    from speechbrain_align.dataio.manifest import read_segment_manifest
    from speechbrain_align.speech.awe_run import run_awe

    out = str(tmp_path / "run")
    summary = run_awe(_hparams(corpus, out, "lda_rounds: 1\n"))
    ids = [r["ID"] for name in ("train", "test")
           for r in read_segment_manifest(os.path.join(corpus, f"{name}.csv"))]
    segs = load_embeddings(os.path.join(out, "segments.npz"))
    assert segs.words == ids and np.allclose(np.linalg.norm(segs.vectors, axis=1), 1, atol=1e-4)
    res = summary["acoustic_word_embeddings"]
    assert set(res) == {"mfcc_cmvn", "vtln_mfcc", "lda", "lda_context"}
    assert summary["chosen"] == "lda_context" and summary["lda_context_rounds"][0]["mined"] == "contexts"
    for entry in res.values():
        for key in ("sd_ap_same_speaker", "sd_ap_cross_speaker_same_accent", "sd_ap_cross_accent",
                    "purity", "inverse_purity", "n_units"):
            assert key in entry
    assert res["lda"]["sd_ap_same_speaker"] > 0.5
    assert summary["warps"]["spk2"] > summary["warps"]["spk0"]
    with open(os.path.join(out, "n_units.json")) as handle:
        assert json.load(handle)["n_units"] in (5, 10, 20)
    assert os.path.getsize(os.path.join(out, "awe_ap.png")) > 1000
    assert "segment_vectors" in summary["seconds"]

    # rerun with one more LDA round: cached warps/vectors, round 0 from the checkpoint
    again = run_awe(_hparams(corpus, out, "lda_rounds: 2\n"))
    assert "segment_vectors" not in again["seconds"] and "vtln_warps" not in again["seconds"]
    assert [r["round"] for r in again["lda_rounds"]] == [0, 1]
    assert again["lda_rounds"][0] == summary["lda_rounds"][0]
    # the context round starts over when the segment rounds or its own settings change
    assert again["lda_context_rounds"][0]["inputs"] != summary["lda_context_rounds"][0]["inputs"]
    import speechbrain_align.speech.awe as awe_module

    def no_mining(*args, **kwargs):
        raise AssertionError("the context round should come from its checkpoint")

    monkeypatch.setattr(awe_module, "context_pairs", no_mining)
    export = os.path.join(out, "segments.npz")
    before = os.stat(export).st_mtime_ns
    assert run_awe(_hparams(corpus, out, "lda_rounds: 2\n"))["lda_context_rounds"] == again["lda_context_rounds"]
    # the same vectors: the export is not rewritten (the unit stage reading it is not redone)
    assert os.stat(export).st_mtime_ns == before
    monkeypatch.undo()
    other = run_awe(_hparams(corpus, out, "lda_rounds: 2\ncontext_k: 4\n"))
    assert other["lda_context_rounds"][0]["inputs"] != again["lda_context_rounds"][0]["inputs"]


def test_recipe_bad_input(corpus, tmp_path):
    from speechbrain_align.dataio.manifest import ManifestError
    from speechbrain_align.speech.awe_run import run_awe

    hp = _hparams(corpus, str(tmp_path / "a"), f"manifests: [{corpus}/train.csv]\n")
    with pytest.raises(ManifestError, match="spk2"):
        run_awe(hp)
    hp = _hparams(corpus, str(tmp_path / "b"), f"manifests: [{corpus}/nope.csv]\n")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        run_awe(hp)
    hp = _hparams(corpus, str(tmp_path / "c"), "routes: [lda]\nexport_route: contrastive\n")
    with pytest.raises(ValueError, match="export_route"):
        run_awe(hp)


def test_harmony_route_is_evaluated_exported_and_cached(corpus, tmp_path, monkeypatch):
    import speechbrain_align.speech.harmony as harmony_module
    from speechbrain_align.speech.awe_run import run_awe
    from speechbrain_align.utils.errors import HparamsError

    out = str(tmp_path / "run")
    extra = ("lda_rounds: 1\nroutes: [lda, lda_context, lda_context_harmony]\n"
             "export_route: lda_context_harmony\nharmony: {n_clusters: 4, rounds: 2}\n")
    summary = run_awe(_hparams(corpus, out, extra))
    assert summary["chosen"] == "lda_context_harmony"
    assert "lda_context_harmony" in summary["acoustic_word_embeddings"] and "harmony" in summary["seconds"]
    exported = load_embeddings(os.path.join(out, "segments.npz")).vectors
    with np.load(os.path.join(out, "save", "harmony.npz")) as data:
        assert np.allclose(exported, data["vectors"], atol=1e-6)

    def no_harmony(*args, **kwargs):
        raise AssertionError("the harmony vectors should come from save/harmony.npz")

    monkeypatch.setattr(harmony_module, "harmonize", no_harmony)
    again = run_awe(_hparams(corpus, out, extra))
    assert "harmony" not in again["seconds"]
    with pytest.raises(AssertionError, match="save/harmony"):  # other settings: recomputed
        run_awe(_hparams(corpus, out, extra.replace("rounds: 2", "rounds: 1")))
    monkeypatch.undo()
    with pytest.raises(HparamsError, match="lda_context_harmony starts from lda_context"):
        run_awe(_hparams(corpus, out, "routes: [lda, lda_context_harmony]\nexport_route: lda\n"))
    with pytest.raises(HparamsError, match="harmony: unknown setting.*n_cluster"):
        run_awe(_hparams(corpus, out, extra.replace("n_clusters: 4", "n_cluster: 4")))
    with pytest.raises(HparamsError, match="harmony: n_clusters=100000"):
        run_awe(_hparams(corpus, out, extra.replace("n_clusters: 4", "n_clusters: 100000")))
    with pytest.raises(HparamsError, match="context_sides"):
        run_awe(_hparams(corpus, out, "context_sides: left\n"))


def test_contrastive_route_trains_and_resumes(corpus, tmp_path):
    from speechbrain_align.speech.awe_run import run_awe

    out = str(tmp_path / "run")
    extra = ("routes: [lda, contrastive]\nexport_route: lda\n"
             "number_of_epochs: 2\nbatch_size: 8\nemb_dim: 8\nhidden: 16\n")
    run_awe(_hparams(corpus, out, extra), {"noprogressbar": True})
    with open(os.path.join(out, "contrastive_log.txt")) as handle:
        assert [line.split(" - ")[0] for line in handle] == ["epoch: 1", "epoch: 2"]
    summary = run_awe(_hparams(corpus, out, extra.replace("number_of_epochs: 2", "number_of_epochs: 3")))
    with open(os.path.join(out, "contrastive_log.txt")) as handle:
        assert len(handle.readlines()) == 3
    assert "contrastive" in summary["acoustic_word_embeddings"]


def test_soft_unit_labels_and_skipgram_counts():
    x = np.array([[0.0], [0.1], [1.0], [5.0]])
    c = np.array([[0.0], [1.0], [5.0]])
    sharp = sample_soft_labels(x, c, 3, candidates=2, temperature=1e-4)
    assert all(lab.tolist() == [0, 0, 1, 2] for lab in sharp)
    loose = np.stack(sample_soft_labels(x, c, 200, candidates=2, temperature=10.0))
    assert 0.3 < (loose[:, 0] == 1).mean() < 0.7  # 0 and 1 nearly equally likely
    with pytest.raises(ValueError):
        sample_soft_labels(x, c, 1, temperature=0)

    from speechbrain_align.speech.units import train_unit_skipgram

    rng = np.random.default_rng(0)
    rows = [{"ID": f"u{i}_{p}", "utt_id": f"u{i}", "position": p} for i in range(30) for p in range(4)]
    feats = np.stack([rng.normal(5 * (r["position"] % 2), 0.1, 3) for r in rows])
    hard, assign = train_unit_skipgram(rows, feats, 2, dim=4, epochs=1)
    soft, assign_soft = train_unit_skipgram(rows, feats, 2, dim=4, epochs=1, soft_copies=2)
    assert assign == assign_soft
    assert sorted(soft.counts.tolist()) == sorted(hard.counts.tolist()) == [60, 60]
