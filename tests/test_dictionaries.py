"""Tests for speechbrain_align.dataio.dictionaries."""

import os

import pytest

from speechbrain_align.dataio import dictionaries as D
from speechbrain_align.dataio.dictionaries import freedict as F


def test_muse_read_write_roundtrip(tmp_path):
    path = tmp_path / "en-es.txt"
    path.write_text("the\tel\nthe\tla\n\nKing rey\nthe\tel\n", encoding="utf-8")
    pairs = D.read_muse_dictionary(path)
    assert pairs == [("the", "el"), ("the", "la"), ("king", "rey")]
    assert D.group_by_source(pairs) == {"the": ["el", "la"], "king": ["rey"]}
    out = tmp_path / "sub" / "out.txt"
    D.write_muse_dictionary(pairs, out, sep=" ")
    assert out.read_text() == "the el\nthe la\nking rey\n"
    assert D.read_muse_dictionary(out) == pairs
    with pytest.raises(D.DictionaryError, match="space.txt: pair 0"):
        D.write_muse_dictionary([("good day", "buenos días")], tmp_path / "space.txt", sep=" ")
    assert not (tmp_path / "space.txt").exists()


def test_muse_malformed_lines(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("the\tel\nonlyoneword\nking\trey\n", encoding="utf-8")
    with pytest.raises(D.DictionaryError, match=r"bad.txt:2: expected"):
        D.read_muse_dictionary(path)
    assert D.read_muse_dictionary(path, on_error="skip") == [("the", "el"), ("king", "rey")]
    path.write_bytes(b"the\tel\nse\xf1or\tsir\n")
    with pytest.raises(D.DictionaryError, match=r"bad.txt:2: not valid UTF-8"):
        D.read_muse_dictionary(path)
    path.write_text("a\tb\tc\n")
    with pytest.raises(D.DictionaryError, match=r"bad.txt:1"):
        D.read_muse_dictionary(path)
    path.write_text("\n\n")
    with pytest.raises(D.DictionaryError, match="no word pair"):
        D.read_muse_dictionary(path)


def test_real_muse_dictionary(muse_dictionaries):
    pairs = D.read_muse_dictionary(muse_dictionaries / "en-es.txt")
    grouped = D.group_by_source(pairs)
    assert len(pairs) > 100000 and "el" in grouped["the"]
    assert all(s == s.lower() and t == t.lower() for s, t in pairs[:2000])


def test_filter_to_vocabularies(tmp_path):
    pairs = [("king", "rey"), ("queen", "reina"), ("car", "coche")]
    kept = D.filter_to_vocabularies(pairs, {"king", "car"}, {"rey", "reina"}, "en-es.txt")
    assert kept == [("king", "rey")]
    with pytest.raises(D.DictionaryError, match="en-fr.txt: none of its 3 pairs"):
        D.filter_to_vocabularies(pairs, {"king"}, {"roi"}, "en-fr.txt")


def test_pivot_synonyms_tiny():
    en_es = [("car", "coche"), ("automobile", "coche"), ("car", "carro"), ("cart", "carro"),
             ("dog", "perro"), ("big", "grande"), ("large", "grande"), ("great", "gran")]
    es_en = [("coche", "car"), ("coche", "automobile"), ("grande", "big"),
             ("grande", "great"), ("perro", "dog"), ("perro", "hound")]
    shared = D.pivot_synonyms(en_es)
    assert shared == {"car": {"automobile", "cart"}, "automobile": {"car"},
                      "cart": {"car"}, "big": {"large"}, "large": {"big"}}
    assert all(w not in s for w, s in shared.items())           # no identity
    through = D.pivot_synonyms(en_es, es_en)
    assert through["dog"] == {"hound"} and through["big"] == {"great"}
    assert through["large"] == {"big", "great"} and "cart" not in through
    assert list(D.pivot_synonyms(en_es, max_sets=2)) == ["car", "automobile"]
    in_vocab = D.pivot_synonyms(en_es, vocab={"car", "cart", "big"})
    assert in_vocab == {"car": {"cart"}, "cart": {"car"}}


def test_synonyms_file_roundtrip(tmp_path):
    syn = {"car": {"automobile", "cart"}, "big": {"large"}}
    path = tmp_path / "syn.tsv"
    D.write_synonyms(syn, path)
    assert D.read_synonyms(path) == syn
    path.write_text("car\tcart\nlonely\n")
    with pytest.raises(D.DictionaryError, match="syn.tsv:2"):
        D.read_synonyms(path)


def test_split_dictionary_disjoint_and_deterministic():
    pairs = [(f"w{i}", f"t{j}") for i in range(50) for j in range(i % 3 + 1)]
    train, test = D.split_dictionary(pairs, test_size=0.2, seed=3)
    train_src, test_src = {s for s, _ in train}, {s for s, _ in test}
    assert len(test_src) == 10 and len(train_src) == 40 and not train_src & test_src
    assert sorted(train + test) == sorted(pairs)
    assert D.split_dictionary(pairs, 0.2, seed=3) == (train, test)
    assert D.split_dictionary(pairs, 0.2, seed=4)[1] != test
    assert len({s for s, _ in D.split_dictionary(pairs, 7, seed=3)[1]}) == 7
    with pytest.raises(D.DictionaryError):
        D.split_dictionary(pairs, 50)


def test_dictd_number():
    assert F._dictd_number("A") == 0
    assert F._dictd_number("BA") == 64
    assert F._dictd_number("/") == 63


def test_freedict_tiny(tmp_path):
    import gzip

    entries = [
        "00databaseshort\nTiny test dictionary\n",
        "king /kiŋ/\n1. rey\n2. monarca <m>\n",
        "good morning /gʊd/\nbuenos días\n",
        "water /wɔːtər/\nagua (f), riego [fig.]\nno...nunca, ¿qué?\n",
        "be /bbɔn/\nnacer\n",
    ]
    data, index = b"", []
    for text in entries:
        raw = text.encode("utf-8")
        head = text.split(" /")[0].split("\n")[0]
        index.append((head, len(data), len(raw)))
        data += raw

    def b64(n):
        digits = ""
        while True:
            digits = F._B64[n % 64] + digits
            n //= 64
            if n == 0:
                return digits

    (tmp_path / "freedict-xx-yy.index").write_text(
        "".join(f"{h}\t{b64(o)}\t{b64(s)}\n" for h, o, s in index), encoding="utf-8"
    )
    with gzip.open(tmp_path / "freedict-xx-yy.dict.dz", "wb") as handle:
        handle.write(data)
    idx, dz = D.freedict_paths("xx-yy", tmp_path)
    assert D.read_freedict(idx, dz) == [
        ("king", "rey"), ("king", "monarca"), ("water", "agua"), ("water", "riego")
    ]
    multi = D.read_freedict(idx, dz, keep_multiword=True, drop_truncated=False)
    assert ("good morning", "buenos días") in multi and ("be", "nacer") in multi
    with pytest.raises(D.DictionaryError, match="dict-freedict-zz-qq"):
        D.freedict_paths("zz-qq", tmp_path)


@pytest.mark.skipif(
    not os.path.exists(os.path.join(D.FREEDICT_DIR, "freedict-eng-spa.index")),
    reason="Debian package dict-freedict-eng-spa is not installed",
)
def test_installed_freedict_eng_spa(tmp_path):
    out = tmp_path / "en-es.freedict.txt"
    pairs = D.freedict_to_muse(out, "eng-spa")
    grouped = D.group_by_source(pairs)
    assert len(grouped) > 3000
    assert "rey" in grouped["king"] and "agua" in grouped["water"] and "dios" in grouped["god"]
    assert "nacer" not in grouped.get("be", [])        # "be born", truncated to "be"
    assert all(" " not in s and " " not in t for s, t in pairs)
    assert D.read_muse_dictionary(out) == pairs


def test_cli_split(tmp_path, capsys):
    src = tmp_path / "d.txt"
    D.write_muse_dictionary([(f"w{i}", f"t{i}") for i in range(10)], src)
    rc = D.main(["split", str(src), str(tmp_path / "tr.txt"), str(tmp_path / "te.txt"),
                 "--test-size", "3"])
    assert rc == 0
    assert len(D.read_muse_dictionary(tmp_path / "te.txt")) == 3
    assert D.main(["split", str(tmp_path / "missing.txt"), "a", "b"]) == 1
    assert "missing.txt: cannot open" in capsys.readouterr().err


def test_read_synonyms_non_utf8_is_a_dictionary_error(tmp_path):
    from speechbrain_align.dataio.dictionaries import DictionaryError, read_synonyms

    path = tmp_path / "syn.txt"
    path.write_bytes(b"big\tlarge\ncaf\xe9\tbar\n")
    with pytest.raises(DictionaryError, match="syn.txt:2: not UTF-8"):
        read_synonyms(path)
