"""Tests for speechbrain_align.dataio.text: SWORD verses, corpora, vocabularies."""

import re
import shutil

import pytest

from speechbrain_align.dataio import subwords as SP
from speechbrain_align.dataio import sword as SW
from speechbrain_align.dataio import text as T

SAMPLE_IMP = (
    "$$$[ Module Heading ]\n\n"
    "$$$Genesis 0:0\n"
    '<div sID="g1" type="front"/><title type="main">Genesis</title>\n'
    "$$$Genesis 1:1\n"
    '<title type="x-heading">The Creation</title><w lemma="strong:H7225" morph="x">In</w> '
    'the beginning, <w lemma="strong:H0430">God</w><note placement="foot">'
    '<reference type="annotateRef">1:1 </reference>Hebrew: Elohim</note>'
    '<w lemma="strong:H1254">created</w> the heavens.\n'
    "$$$Genesis 1:2\n"
    '<note type="crossReference"><reference>Ps 33:6</reference></note>'
    '<transChange type="added">And</transChange> <divineName>Yahweh</divineName>&apos;s '
    "earth<lb/>was <q marker=\"\u201c\">empty</q>.\n"
    "$$$Psalms 3:1\n"
    '<title canonical="true" type="psalm">A Psalm by David.</title> <l sID="a"/>Yahweh, '
    'help!<l eID="a"/>\n'
    "$$$Song of Solomon 1:2\n"
    "<speaker>Beloved</speaker> Let him kiss me.\n"
    "$$$Revelation of John 22:21\n"
    'Amen.<div sID="gl" type="glossary"/>Abba means father.<div eID="gl"/>\n'
)


def test_parse_imp_strips_markup_and_keeps_order():
    verses = SW.parse_imp(SAMPLE_IMP)
    assert verses == [
        ("Gen.1.1", "In the beginning, God created the heavens."),
        ("Gen.1.2", "And Yahweh's earth was empty."),
        ("Ps.3.1", "A Psalm by David. Yahweh, help!"),
        ("Song.1.2", "Let him kiss me."),
        ("Rev.22.21", "Amen."),
    ]
    no_titles = dict(SW.parse_imp(SAMPLE_IMP, keep_canonical_titles=False))
    assert no_titles["Ps.3.1"] == "Yahweh, help!"
    only_gen = SW.parse_imp(SAMPLE_IMP, books=["Gen"])
    assert [r for r, _ in only_gen] == ["Gen.1.1", "Gen.1.2"]


def test_strip_markup_gbf_and_thml():
    assert SW.strip_markup("In the <FI>beginning<Fi><WH7225> God<RF>Or, gods<Rf> made.<CM>") == (
        "In the beginning God made."
    )
    assert SW.strip_markup("<TS>Heading<Ts>Jesus wept.<RX>Jn 11<Rx>") == "Jesus wept."
    assert SW.strip_markup(
        'He said<note n="a">a note <i>here</i></note> so<scripRef passage="Gen 1:1">Gen 1</scripRef>.'
        '<sync type="Strongs" value="G1"/>'
    ) == "He said so ."


def test_unknown_book_kept_with_warning(caplog):
    verses = SW.parse_imp("$$$Odes 1:1\nSing.\n")
    assert verses == [("Odes.1.1", "Sing.")]
    assert "Odes" in caplog.text


needs_sword = pytest.mark.skipif(shutil.which("mod2imp") is None, reason="libsword-utils absent")


@needs_sword
def test_missing_module_names_package():
    with pytest.raises(SW.SwordError, match="apt-get install"):
        SW.read_sword_verses("noSuchModule123")


def test_missing_mod2imp(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SW.SwordError, match="libsword-utils"):
        SW.read_sword_verses("engWEB2015eb")


@needs_sword
def test_real_module_kjv():
    try:
        verses = SW.read_sword_verses("engKJV2006eb", books=["Gen", "John"])
    except SW.SwordError as err:
        pytest.skip(str(err))
    refs = dict(verses)
    assert refs["Gen.1.1"] == "In the beginning God created the heaven and the earth."
    assert refs["John.11.35"] == "Jesus wept."
    assert len(verses) == 1533 + 879            # KJV verse counts of Genesis and John
    assert not any(re.search(r"[<>]|strong:[HG]\d", t) for _, t in verses)
    assert verses[0][0] == "Gen.1.1" and verses[-1][0] == "John.21.25"


def test_write_text_corpus(tmp_path):
    out = tmp_path / "c.txt"
    stats = T.write_text_corpus(
        [("Gen.1.1", "In the beginning, GOD created."), ("x", "12 34"), "God\u2019s word"], out
    )
    assert out.read_text(encoding="utf-8") == "in the beginning god created\ngod's word\n"
    assert stats == {"lines": 2, "skipped_empty": 1, "tokens": 7, "types": 7}


def test_read_text_file_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(T.TextCorpusError, match="empty.txt.*empty"):
        T.read_text_file(empty)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("ok line\nse\u00f1or\n".encode("latin-1"))
    with pytest.raises(T.TextCorpusError, match=r"latin1.txt:2: not valid UTF-8"):
        T.read_text_file(latin)
    with pytest.raises(T.TextCorpusError, match="cannot open"):
        T.read_text_file(tmp_path / "missing.txt")


def test_vocabulary_roundtrip(tmp_path):
    corpus = tmp_path / "c.txt"
    T.write_text_corpus(["the king and the queen", "The KING."], corpus)
    counts = T.vocabulary_counts(corpus)
    assert counts == {"the": 3, "king": 2, "and": 1, "queen": 1}
    vocab = tmp_path / "vocab.tsv"
    T.write_vocabulary(counts, vocab)
    assert vocab.read_text().splitlines() == ["the\t3", "king\t2", "and\t1", "queen\t1"]
    assert T.read_vocabulary(vocab) == counts
    vocab.write_text("the\t3\nbad line\n")
    with pytest.raises(T.TextCorpusError, match=r"vocab.tsv:2"):
        T.read_vocabulary(vocab)


def test_sentencepiece_sparse_words(tmp_path):
    corpus = tmp_path / "c.txt"
    words = ["walking", "talking", "walked", "talked", "king", "kings", "the", "a"]
    lines = [" ".join(words[(i + j) % len(words)] for j in range(6)) for i in range(200)]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = SP.train_sentencepiece(corpus, tmp_path / "sp", vocab_size=20, seed=7)
    assert model.endswith("sp.model") and (tmp_path / "sp.vocab").exists()
    again = SP.train_sentencepiece(corpus, tmp_path / "sp2", vocab_size=20, seed=7)
    assert (tmp_path / "sp.vocab").read_text() == (tmp_path / "sp2.vocab").read_text()
    out = tmp_path / "pieces.txt"
    stats = SP.encode_corpus(corpus, model, out, keep_words={"the", "a"})
    first = out.read_text(encoding="utf-8").splitlines()[6].split()
    assert "the" in first and "a" in first          # kept whole
    assert stats["lines"] == 200
    assert stats["words_split"] == 200 * 6 - sum(
        line.split().count("the") + line.split().count("a") for line in lines
    )
    # No piece collides with a kept word; pieces decode back to the words.
    pieces = set(out.read_text(encoding="utf-8").split()) - {"the", "a"}
    assert all(p[0] in ("\u2581", "+") for p in pieces)
    assert SP.decode_pieces(first) == lines[6].split()
    assert not list(tmp_path.glob(".*tmp*"))


def test_prepare_text_corpus_skips_when_done(tmp_path):
    src = tmp_path / "my.txt"
    src.write_text("Hello World.\nSecond line!\n", encoding="utf-8")
    corpus = tmp_path / "out" / "corpus.txt"
    stats = T.prepare_text_corpus(corpus, text_file=src)
    assert stats["lines"] == 2 and corpus.read_text() == "hello world\nsecond line\n"
    assert T.prepare_text_corpus(corpus, text_file=src) == {"skipped": True}
    other = tmp_path / "other.txt"
    other.write_text("Third.\n", encoding="utf-8")
    assert T.prepare_text_corpus(corpus, text_file=other)["lines"] == 1
    with pytest.raises(T.TextCorpusError, match="neither sword_module nor text_file"):
        T.prepare_text_corpus(tmp_path / "none.txt")


def test_cli_file_and_vocab(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("The cat. The dog!\n\nA cat\n", encoding="utf-8")
    corpus, vocab = tmp_path / "c.txt", tmp_path / "v.tsv"
    assert T.main(["file", str(src), str(corpus)]) == 0
    assert corpus.read_text() == "the cat the dog\na cat\n"
    assert T.main(["vocab", str(corpus), str(vocab)]) == 0
    assert vocab.read_text().splitlines()[:2] == ["cat\t2", "the\t2"]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert T.main(["file", str(empty), str(tmp_path / "x.txt")]) == 1
    assert "empty.txt" in capsys.readouterr().err
