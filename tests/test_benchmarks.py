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


def test_restart_agreement_replays_the_experiment_policy():
    import restart_agreement

    rows = [{"seed": s, "criterion": c, "agreement": a, "top500_csls_p@1": p}
            for s, c, a, p in [(0, 0.58, 0.0, 0.0), (1, 0.60, 0.13, 0.15), (2, 0.59, 0.05, 0.1),
                               (3, 0.65, 0.70, 0.73), (4, 0.64, 0.58, 0.66)]]
    by_start = {r["start"]: r for r in restart_agreement.replay_policy(rows, 0.3, 3)}
    # from 0: three failures, the cap; the best criterion of the three is kept
    assert by_start[0]["run"] == [0, 1, 2] and by_start[0]["kept"] == 1 and by_start[0]["complete"]
    # from 1: 1 and 2 unconfirmed, 3 confirmed: kept (best criterion) with its P@1
    assert by_start[1]["run"] == [1, 2, 3] and by_start[1]["kept"] == 3
    assert by_start[1]["top500_csls_p@1"] == 0.73
    assert by_start[2]["run"] == [2, 3] and by_start[4]["run"] == [4]
    # a threshold above every agreement: from 3, seeds run out before the cap
    assert not restart_agreement.replay_policy(rows, 0.9, 3)[3]["complete"]


def test_es_oracle_scores_each_english_space(tmp_path):
    """Rotated copies of the Spanish space translate; a random space does not."""
    import es_oracle
    import numpy as np

    from speechbrain_align.alignment.synthetic import synthetic_pair
    from speechbrain_align.dataio.vectors import Embeddings, save_embeddings

    src, tgt, _ = synthetic_pair(400, 10, noise=0.01, n_clusters=20, seed=3)
    inputs = tmp_path / "alignment" / "inputs"
    inputs.mkdir(parents=True)
    words = src.words
    save_embeddings(Embeddings([f"f{w}" for w in tgt.words], tgt.vectors, tgt.counts),
                    str(inputs / "text_es.npz"))
    save_embeddings(src, str(inputs / "speech_T.npz"))
    noisy = src.vectors + 0.01 * np.random.default_rng(0).normal(size=src.vectors.shape)
    save_embeddings(Embeddings(words, noisy.astype(np.float32), src.counts),
                    str(inputs / "text_same.npz"))
    random = np.random.default_rng(1).normal(size=src.vectors.shape).astype(np.float32)
    save_embeddings(Embeddings(words, random, src.counts), str(inputs / "text_cross.npz"))
    (tmp_path / "dictionaries").mkdir()
    (tmp_path / "dictionaries" / "en-es.txt").write_text(
        "".join(f"{w}\tf{w}\n" for w in words) + "nothere\tfnothere\n")
    scores = es_oracle.main(["--experiment", str(tmp_path), "--max_rank", "400"])
    assert scores["T (200k spoken tokens)"] > 0.95 and scores["WEB text"] > 0.95
    assert scores["King James text"] < 0.2


def test_oracle_token_gap_finds_the_types_behind_a_row_gap(tmp_path):
    """A mapping that breaks only the most frequent word loses exactly that word's tokens."""
    import oracle_token_gap
    import numpy as np

    from speechbrain_align.dataio.manifest import Segment, write_segment_manifest
    from speechbrain_align.dataio.vectors import Embeddings, save_embeddings

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    vectors = np.linalg.qr(rng.normal(size=(60, 60)))[0].astype(np.float32)
    inputs = tmp_path / "alignment" / "inputs"
    inputs.mkdir(parents=True)
    save_embeddings(Embeddings(words, vectors, np.arange(60, 0, -1)), str(inputs / "speech_T.npz"))
    save_embeddings(Embeddings(words, vectors), str(inputs / "text_same.npz"))
    # a reflection that sends w0 onto w1 (and w1 onto w0), identity elsewhere
    swap = np.eye(60) - np.outer(vectors[0] - vectors[1], vectors[0] - vectors[1])
    for method, w in (("supervised", np.eye(60)), ("vecmap", swap)):
        folder = tmp_path / "alignment" / f"T_same_{method}"
        folder.mkdir()
        np.save(folder / "mapping.npy", w)
        (folder / "log.json").write_text(json.dumps({"normalize": ["unit"]}))
    counts = {"w0": 30, "w1": 5, "w2": 10, "w3": 15}
    tokens = [w for w, n in counts.items() for _ in range(n)] + ["unknown"]
    (tmp_path / "data" / "speech").mkdir(parents=True)
    write_segment_manifest(
        [Segment("/a.wav", 0.1 * i, 0.1 * i + 0.1, w, "s", "u", i) for i, w in enumerate(tokens)],
        str(tmp_path / "data" / "speech" / "test.csv"))
    out = oracle_token_gap.main(["--experiment", str(tmp_path),
                                 "--data_folder", str(tmp_path / "data")])
    assert out["supervised"] == 100.0
    assert abs(out["vecmap"] - 100.0 * 25 / 60) < 1e-9
    gaps = out["vecmap gaps"]
    assert [(w, d) for w, d, _ in gaps] == [("w0", -30), ("w1", -5)]
    assert abs(gaps[0][2] - 0.5) < 1e-9


def test_oracle_fix_folds_split_words_and_splits_mixtures(tmp_path):
    """unit_vocabulary --oracle_fix: a word's smaller type joins its largest, a mixture
    splits by word, and nothing outside the N largest types changes."""
    import unit_vocabulary
    from speechbrain_align.speech.unit_tables import write_assignment

    # word a: types u0 (6 segments) and u1 (3); mixture u2: c x3, d x3 and g x1 (under a
    # fifth: stays in u2); word e: u3 (2)
    plan = [("a", "u0")] * 6 + [("a", "u1")] * 3 + [("c", "u2"), ("d", "u2")] * 3
    plan += [("g", "u2")] + [("e", "u3")] * 2
    rows = [{"ID": f"s{i}", "word": word, "utt_id": f"utt{i // 4}", "position": i % 4,
             "spk_id": "spk"} for i, (word, _) in enumerate(plan)]
    os.makedirs(tmp_path / "units" / "units")
    write_assignment(str(tmp_path / "units" / "units" / "assignment.csv"),
                     {r["ID"]: unit for r, (_, unit) in zip(rows, plan)})
    split = {"train": rows, "valid": [], "test": []}
    hp = {"seed": 0, "skipgram": {"dim": 4, "window": 2, "epochs": 1, "sample": 0}}
    for fix, n_types, folded, types in [
            ("both", 4, 3, {"u0", "u2", "u2_c", "u2_d", "u3"}),
            ("secondary", 4, 3, {"u0", "u2", "u3"}),
            ("mixtures", 4, 0, {"u0", "u1", "u2", "u2_c", "u2_d", "u3"}),
            ("both", 2, 0, {"u0", "u1", "u2", "u2_c", "u2_d", "u3"})]:  # u1 is not in the 2 largest
        space, extra = unit_vocabulary.oracle_fixed_units(str(tmp_path), split, n_types, hp, fix)
        assert set(space.types.words) == types, (fix, n_types)
        assert extra["folded_tokens"] == folded and extra["tokens"] == len(rows)
        assert extra["folded_types"] == (1 if folded else 0)
        assert extra["mixtures"] == 1


def test_fold_oracle_folds_right_share_and_wrong_folds_into_another_word():
    """fold_oracle: a fraction of the split types joins its word's largest type; each
    wrong fold joins the acoustically nearest larger type of another word; no type
    larger than every split type is folded wrongly."""
    import numpy as np

    import fold_oracle

    # words a, b, c, d: largest types A0, B0, C0, D0 (5 segments each); split types A1, A2,
    # B1, C1 (2 each); E0 (word e, 2 segments) and F0 (word f, 4: larger than every split)
    plan = [("a", "A0")] * 5 + [("b", "B0")] * 5 + [("c", "C0")] * 5 + [("d", "D0")] * 5
    plan += [("a", "A1"), ("a", "A2"), ("b", "B1"), ("c", "C1"), ("e", "E0")] * 2
    plan += [("f", "F0")] * 4
    unit = {f"s{i:02d}": t for i, (_, t) in enumerate(plan)}
    rows = [{"ID": f"s{i:02d}", "word": w} for i, (w, _) in enumerate(plan)]
    rng = np.random.default_rng(0)
    cen = {t: v / np.linalg.norm(v) for t, v in
           ((t, rng.normal(size=4)) for t in sorted(set(unit.values())))}
    split = {"A1": "A0", "A2": "A0", "B1": "B0", "C1": "C0"}
    for right, n_right in [(1.0, 4), (0.5, 2), (0.0, 0)]:
        into, n_split = fold_oracle.oracle_folds(unit, rows, cen, right, 0, seed=3)
        assert n_split == 4 and len(into) == n_right
        assert all(split[u] == v for u, v in into.items())
    into, _ = fold_oracle.oracle_folds(unit, rows, cen, 0.5, 1.0, seed=3)
    wrong = {u: v for u, v in into.items() if split.get(u) != v}
    assert len(wrong) == 2 and "F0" not in wrong and not set(wrong) & set(split.values())
    word = dict((t, w) for w, t in plan)
    sizes = {t: sum(1 for _, x in plan if x == t) for t in word}
    for u, v in wrong.items():
        assert word[v] != word[u] and sizes[v] > sizes[u]
        others = [t for t in word if t != u and sizes[t] > sizes[u] and word[t] != word[u]]
        assert v == max(others, key=lambda t: cen[t] @ cen[u])
    # the retrained space: each fold removes one type, each segment named by its target
    every = [dict(r, spk_id="spk", utt_id=f"utt{i // 5}", position=i % 5)
             for i, r in enumerate(rows)]
    hp = {"seed": 0, "skipgram": {"dim": 4, "window": 2, "epochs": 1, "sample": 0}}
    space = fold_oracle.folded_space(unit, {"train": every, "valid": [], "test": []}, into, hp)
    assert set(space.types.words) == set(unit.values()) - set(into)
    assert all(space.labels[v] == word[v] for v in into.values())


def test_split_types_tell_a_voice_split_from_a_neighbour_split():
    """split_types: a word's second type spoken by other speakers reads 0 speakers shared;
    one spoken by the same speakers before vowels only reads a neighbour bias near 1."""
    import split_types

    rows, assignment = [], {}

    def utterance(spk, words_units, tag):
        for pos, (word, phones, unit) in enumerate(words_units):
            sid = f"{spk}_{tag}_{pos}"
            rows.append({"ID": sid, "word": word, "phones": phones, "spk_id": spk,
                         "utt_id": f"{spk}_{tag}", "position": str(pos)})
            if unit:
                assignment[sid] = unit

    for spk in ("s1", "s2"):  # "and" before consonants: main type A; before vowels: type B
        for i in range(6):
            utterance(spk, [("and", "a n d", "A"), ("the", "D @", "T")], f"c{i}")
            utterance(spk, [("and", "a n d", "B" if i < 3 else "A"), ("all", "O: l", "L")], f"v{i}")
    for i in range(4):  # "go": main type G by s1 and s2, type H only by s3
        for spk, unit in (("s1", "G"), ("s2", "G"), ("s3", "H")):
            utterance(spk, [("go", "g oU", unit), ("the", "D @", "T")], f"g{i}")
    records = {r["type"]: r for r in split_types.split_types(rows, assignment, min_size=3)}
    assert set(records) == {"B", "H"}
    assert records["B"]["speakers_shared"] == 1.0 and abs(records["B"]["neighbour_bias"] - 2 / 3) < 1e-3  # all V vs A's 1/3
    assert records["H"]["speakers_shared"] == 0.0 and records["H"]["neighbour_bias"] < 0.1
    assert records["B"]["chance_bias"] < records["B"]["neighbour_bias"]
    assert "| 10-49 |" not in split_types.summary_table(list(records.values()))


def test_fixed_point_speed_compares_identical_maps(tmp_path):
    """The benchmark's two ways give the same map; the fixed-point exit runs fewer iterations."""
    import fixed_point_speed
    import numpy as np
    import scipy.linalg

    from speechbrain_align.alignment.synthetic import synthetic_pair
    from speechbrain_align.dataio.vectors import save_embeddings

    src, tgt, _ = synthetic_pair(600, 20, noise=0.3, n_clusters=30, seed=3)
    inputs = tmp_path / "alignment" / "inputs"
    inputs.mkdir(parents=True)
    save_embeddings(src, str(inputs / "speech_units.npz"))
    save_embeddings(tgt, str(inputs / "text_same.npz"))
    (tmp_path / "alignment" / "units_same_gw").mkdir()
    a = np.random.default_rng(2).normal(size=(20, 20)) * 0.1
    np.save(tmp_path / "alignment" / "units_same_gw" / "mapping.npy", scipy.linalg.expm(a - a.T))
    out = fixed_point_speed.main(["--experiment", str(tmp_path), "--hops", "3", "--repeats", "1"])
    assert out["identical"] and out["iterations"][1] < out["iterations"][0]
