"""Vector file I/O: round trips and every malformed-input error."""

import numpy as np
import pytest

from speechbrain_align.dataio.vectors import (
    Embeddings,
    VectorFileError,
    load_binary,
    load_embeddings,
    read_vec,
    save_binary,
    save_embeddings,
    write_vec,
)


def _emb(n=5, dim=3, seed=0):
    rng = np.random.default_rng(seed)
    return Embeddings([f"w{i}" for i in range(n)], rng.normal(size=(n, dim)), counts=np.arange(n, 0, -1))


def test_vec_roundtrip_with_counts(tmp_path):
    emb = _emb()
    path = tmp_path / "a.vec"
    write_vec(emb, path)
    back = read_vec(path)
    assert back.words == emb.words
    np.testing.assert_allclose(back.vectors, emb.vectors, rtol=1e-5)
    assert back.counts.tolist() == emb.counts.tolist()
    assert open(path).readline().split() == ["5", "3"]


def test_binary_roundtrip_and_dispatch(tmp_path):
    emb = _emb(n=7, dim=4)
    save_embeddings(emb, tmp_path / "a.npz")
    back = load_embeddings(tmp_path / "a.npz", max_vocab=3)
    assert back.words == emb.words[:3]
    np.testing.assert_array_equal(back.vectors, emb.vectors[:3])
    full = load_binary(tmp_path / "a.npz")
    assert full.counts.tolist() == emb.counts.tolist()


def test_max_vocab_reads_first_words(tmp_path):
    write_vec(_emb(n=6), tmp_path / "a.vec")
    assert read_vec(tmp_path / "a.vec", max_vocab=2).words == ["w0", "w1"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("2 x\na 1 2\n", ":1: header"),
        ("2 2\na 1 2\nb 1 2 3\n", ":3: 3 values, header says 2"),
        ("2 2\na 1 2\nb 1 nan\n", ":3: non-finite"),
        ("2 2\na 1 2\nb 1 inf\n", ":3: non-finite"),
        ("2 2\na 1 2\na 3 4\n", ":3: duplicate word 'a'"),
        ("2 2\na 1 2\nb 1 x\n", ":3:"),
    ],
)
def test_bad_vec_files_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.vec"
    path.write_text(text)
    with pytest.raises(VectorFileError) as err:
        read_vec(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_duplicates_can_be_skipped(tmp_path, caplog):
    path = tmp_path / "dup.vec"
    path.write_text("3 2\na 1 2\na 3 4\nb 5 6\n")
    emb = read_vec(path, on_duplicate="skip")
    assert emb.words == ["a", "b"]
    assert emb.vectors[0].tolist() == [1.0, 2.0]
    assert "skipped 1 duplicate" in caplog.text


def test_non_utf8_vec(tmp_path):
    path = tmp_path / "latin.vec"
    path.write_bytes(b"1 2\ncaf\xe9 1 2\n")
    with pytest.raises(VectorFileError, match=r"latin.vec:2: not UTF-8"):
        read_vec(path)


def test_bad_counts_sidecar(tmp_path):
    write_vec(_emb(n=2), tmp_path / "a.vec")
    (tmp_path / "a.vec.counts.tsv").write_text("w0\t3\n")
    with pytest.raises(VectorFileError, match="no count for 1 words"):
        read_vec(tmp_path / "a.vec")


def test_binary_rejects_non_finite(tmp_path):
    emb = _emb()
    emb.vectors[1, 1] = np.nan
    save_binary(emb, tmp_path / "x.npz")
    with pytest.raises(VectorFileError, match="non-finite"):
        load_binary(tmp_path / "x.npz")


def test_failed_write_keeps_old_file(tmp_path):
    path = tmp_path / "a.vec"
    write_vec(_emb(n=2), path)
    before = path.read_text()
    with pytest.raises(VectorFileError):
        write_vec(Embeddings(["ok", "has space"], np.zeros((2, 3))), path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_most_frequent_uses_counts():
    emb = Embeddings(["a", "b", "c"], np.eye(3), counts=[1, 9, 5])
    assert emb.most_frequent(2).words == ["b", "c"]
    with pytest.raises(ValueError, match="duplicate"):
        Embeddings(["a", "a"], np.eye(2))


def test_empty_vec_file(tmp_path):
    path = tmp_path / "empty.vec"
    path.write_text("")
    with pytest.raises(VectorFileError, match="empty.vec:1: empty file"):
        read_vec(path)
