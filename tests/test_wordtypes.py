"""Word-type vectors from segment vectors: by label, k-means, equal-chunk baseline."""

import logging

import numpy as np
import pytest

from speechbrain_align.dataio.manifest import ManifestError, read_segment_manifest, write_segment_manifest
from speechbrain_align.dataio.segmentation import equal_chunks
from speechbrain_align.dataio.vectors import load_embeddings, save_embeddings
from speechbrain_align.speech.wordtypes import (
    average_by_label,
    cluster_name,
    kmeans_types,
    write_assignment,
)
from speechbrain_align.speech.units import read_assignment


def test_average_by_label_counts_and_order(caplog):
    rs = np.random.RandomState(0)
    vecs = rs.randn(7, 3).astype("float32")
    labels = ["b", "a", "b", "", "c", "b", "a"]
    with caplog.at_level(logging.WARNING):
        emb = average_by_label(vecs, labels)
    assert "1 of 7 segments have no word label" in caplog.text
    assert emb.words == ["b", "a", "c"] and emb.counts.tolist() == [3, 2, 1]
    assert np.allclose(emb.vectors[0], vecs[[0, 2, 5]].mean(0))
    assert np.allclose(emb.vectors[1], vecs[[1, 6]].mean(0))
    with pytest.raises(ValueError, match="labels"):
        average_by_label(vecs, labels[:3])
    with pytest.raises(ValueError, match="no segment has a word label"):
        average_by_label(vecs[:2], ["", ""])


def test_kmeans_assignment_consistent(tmp_path):
    rs = np.random.RandomState(1)
    centres = rs.randn(6, 5) * 10
    truth = rs.randint(6, size=300)
    vecs = (centres[truth] + rs.randn(300, 5)).astype("float32")
    types, assign = kmeans_types(vecs, 6, seed=3)
    assert len(assign) == 300 and len(types) == 6
    assert sorted(types.words) == [cluster_name(c) for c in range(6)]
    # Each cluster: counts and mean vector of exactly its assigned members.
    for c in range(6):
        row = types.index[cluster_name(c)]
        members = assign == c
        assert types.counts[row] == members.sum()
        assert np.allclose(types.vectors[row], vecs[members].mean(0), atol=1e-4)
    # Well separated blobs are recovered (a bijection between truth and clusters).
    pairs = set(zip(truth.tolist(), assign.tolist()))
    assert len(pairs) == 6
    # Types are sorted by decreasing count; the vec round trip keeps counts.
    assert (np.diff(types.counts) <= 0).all()
    save_embeddings(types, str(tmp_path / "k.vec"))
    back = load_embeddings(str(tmp_path / "k.vec"))
    assert back.words == types.words and back.counts.tolist() == types.counts.tolist()
    # Assignment CSV.
    ids = [f"s{i}" for i in range(300)]
    write_assignment(str(tmp_path / "a.csv"), ids, assign, labels=[f"w{t}" for t in truth])
    table = read_assignment(str(tmp_path / "a.csv"))
    assert table["s17"] == cluster_name(int(assign[17])) and len(table) == 300
    with pytest.raises(ValueError):
        write_assignment(str(tmp_path / "b.csv"), ids[:5], assign)
    # K larger than the number of segments is reduced, with no empty types.
    small, small_assign = kmeans_types(vecs[:4], 10)
    assert len(small) <= 4 and small.counts.sum() == 4 and len(small_assign) == 4


def test_equal_chunks(tmp_path):
    def row(utt, pos, start, stop, word, wav="/x.wav"):
        return dict(ID=f"{utt}_{pos}", wav=wav, start=start, stop=stop, word=word,
                    spk_id="s", utt_id=utt, position=pos)

    rows = [
        row("u", 2, 1.0, 1.9, "long"),  # positions out of order on purpose
        row("u", 0, 0.2, 0.4, "in"),
        row("u", 1, 0.4, 0.8, "the"),
        row("v", 0, 0.0, 0.5, "one"),
    ]
    chunks = equal_chunks(rows)
    u = [c for c in chunks if c.utt_id == "u"]
    assert len(u) == 3 and len(chunks) == 4
    assert [c.position for c in u] == [0, 1, 2]
    assert u[0].start == pytest.approx(0.2) and u[-1].stop == pytest.approx(1.9)
    assert all(c.duration == pytest.approx(1.7 / 3, abs=1e-5) for c in u)
    # [0.2,0.767]: 'the' overlaps 0.367 > 'in' 0.2; [0.767,1.333]: 'long' 0.333;
    assert [c.word for c in u] == ["the", "long", "long"]
    assert float(u[0].extra["overlap"]) == pytest.approx(0.367 / 0.567, abs=0.01)
    assert chunks[-1].word == "one" and chunks[-1].ID == "v_c0000"
    path = str(tmp_path / "chunks.csv")
    write_segment_manifest(chunks, path)
    assert len(read_segment_manifest(path)) == 4
    with pytest.raises(ManifestError, match="several audio files"):
        equal_chunks(rows + [row("u", 3, 2.0, 2.5, "x", wav="/y.wav")])
