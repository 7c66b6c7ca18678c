"""Aligned-space export, loading and spoken-word retrieval on a toy space with known answers."""

import json
import os

import numpy as np
import pytest
import soundfile
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.inference.interfaces import Pretrained

from speechbrain_align.dataio.vectors import Embeddings
from speechbrain_align.inference.__main__ import main as cli_main
from speechbrain_align.alignment.normalization import fit_normalizer
from speechbrain_align.dataio.manifest import read_segment_manifest
from speechbrain_align.inference.export import export_aligned_space
from speechbrain_align.inference.pretrained import AlignedSpace, AlignedSpaceError, QueryError
from speechbrain_align.nnet.speech2vec import Speech2Vec
from speechbrain_align.speech.features import FeatureExtractor

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
FREQS = [220.0, 440.0, 880.0, 1500.0, 2500.0, 3500.0]
ENC_HPARAMS = {"input_size": 13, "emb_dim": 8, "enc_hidden": 12, "dec_hidden": 8}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run far faster on one thread on a loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



def _tone(freq, rate, dur=0.4):
    t = np.arange(int(dur * rate)) / rate
    chirp = freq * (1 + 0.3 * t)  # a little movement so frames differ
    return (0.4 * np.sin(2 * np.pi * chirp * t)).astype("float32")


def _random_orthogonal(dim, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return (q * np.sign(np.diag(r))).astype("float32")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A toy aligned space where the text space is an exact rotation of the speech space."""
    torch.manual_seed(0)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("space")
    wavs16, wavs22 = [], []
    for word, freq in zip(WORDS, FREQS):
        p16, p22 = root / f"{word}_16k.wav", root / f"{word}_22k.wav"
        soundfile.write(p16, _tone(freq, 16000), 16000)
        soundfile.write(p22, _tone(freq, 22050), 22050)
        wavs16.append(str(p16))
        wavs22.append(str(p22))
    extractor = FeatureExtractor(kind="mfcc", n_mfcc=13)
    raw = [extractor.raw(soundfile.read(p, dtype="float32")[0]) for p in wavs16]
    frames = np.concatenate(raw)
    extractor.set_stats(frames.mean(0), frames.std(0) + 1e-5)
    encoder = Speech2Vec(**ENC_HPARAMS).eval()
    with torch.no_grad():
        speech = np.stack(
            [
                encoder.encode(
                    extractor.compute_features(soundfile.read(p, dtype="float32")[0])[None]
                )[0].numpy()
                for p in wavs16
            ]
        )
    speech_norm, _ = fit_normalizer(speech, ["unit", "center", "unit"])
    rot, rot_fr = _random_orthogonal(8, 1), _random_orthogonal(8, 2)
    # Text words in shuffled order plus far-away distractors.
    order = [3, 0, 5, 1, 4, 2]
    text_words = [WORDS[i] for i in order]
    text = speech_norm[order] @ rot.T
    foreign_words = [f"{w}_fr" for w in text_words]
    foreign = speech_norm[order] @ rot_fr.T
    folder = root / "aligned"
    export_aligned_space(
        folder,
        encoder,
        ENC_HPARAMS,
        extractor,
        Embeddings(WORDS, speech),
        rot,
        Embeddings(text_words, text),
        foreign_vectors=Embeddings(foreign_words, foreign),
        foreign_mapping=rot_fr,
        language="en",
        foreign_language="fr",
    )
    torch.set_num_threads(before)
    return {"folder": folder, "wavs16": wavs16, "wavs22": wavs22, "rot": rot, "extractor": extractor,
            "encoder": encoder, "speech": speech, "text": text, "text_words": text_words}


def test_folder_format(toy):
    names = sorted(os.listdir(toy["folder"]))
    assert names == sorted(
        [
            "hyperparams.yaml", "encoder.ckpt", "feature_extractor.ckpt", "speech_vectors.ckpt",
            "text_vectors.ckpt", "mapping.ckpt", "foreign_vectors.ckpt", "foreign_mapping.ckpt",
        ]
    )
    text = (toy["folder"] / "hyperparams.yaml").read_text()
    assert "encoder: !new:speechbrain_align.nnet.speech2vec.Speech2Vec" in text
    assert ": !PLACEHOLDER" not in text
    with open(toy["folder"] / "hyperparams.yaml") as handle:
        hp = load_hyperpyyaml(handle)  # plain HyperPyYAML, objects built from the file alone
    assert isinstance(hp["encoder"], Speech2Vec) and hp["encoder"].emb_dim == 8
    assert hp["modules"]["encoder"] is hp["encoder"] is hp["pretrainer"].loadables["encoder"]
    assert hp["feature_extractor"].options == toy["extractor"].options
    assert (hp["language"], hp["foreign_language"], hp["csls_k"]) == ("en", "fr", 10)
    assert sorted(hp["pretrainer"].loadables) == sorted(n[:-5] for n in names if n.endswith(".ckpt"))


@pytest.mark.parametrize("method", ["nn", "csls"])
def test_spoken_word_finds_its_text_word_and_translation(toy, method):
    space = AlignedSpace.from_hparams(source=toy["folder"])
    for word, wav in zip(WORDS, toy["wavs16"]):
        answer = space.nearest_words(wav, k=3, method=method)
        assert len(answer) == 3
        assert answer[0]["word"] == word
        scores = [a["score"] for a in answer]
        assert scores == sorted(scores, reverse=True)
        if method == "nn":
            assert answer[0]["score"] == pytest.approx(1.0, abs=0.01)  # text is re-normalised on load
        assert space.translate(wav, k=1, method=method)[0]["word"] == f"{word}_fr"
    # The same words recorded at 22,050 Hz go through resampling and still match.
    hits = sum(space.nearest_words(w, k=1, method=method)[0]["word"] == word
               for word, w in zip(WORDS, toy["wavs22"]))
    assert hits >= len(WORDS) - 1


def test_encode_matches_direct_pipeline(toy):
    space = AlignedSpace.from_hparams(source=toy["folder"])
    got = np.stack([space.encode(w) for w in toy["wavs16"]])
    assert np.allclose(got, toy["speech"], atol=1e-5)
    signal, rate = soundfile.read(toy["wavs16"][2], dtype="float32")
    assert np.allclose(space.encode((signal, rate)), toy["speech"][2], atol=1e-5)


def test_query_and_cli(toy, capsys):
    space = AlignedSpace.from_hparams(source=toy["folder"])
    answer = space.query(toy["wavs16"][1], k=2)
    assert set(answer) == {"language", "foreign_language", "nn", "csls"}
    assert answer["csls"]["translations"][0]["word"] == "bravo_fr"
    assert cli_main(["--space", str(toy["folder"]), "--wav", toy["wavs16"][4], "--k", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert out["nn"]["words"][0]["word"] == "echo"
    assert cli_main(["--space", str(toy["folder"]), "--wav", toy["wavs16"][0], "--method", "csls"]) == 0
    table = capsys.readouterr().out
    assert "csls words [en]: alpha" in table and "translations [fr]: alpha_fr" in table
    assert cli_main(["--space", str(toy["folder"]), "--wav", "/nonexistent.wav"]) == 1
    assert "nonexistent.wav" in capsys.readouterr().err
    # several files: the good ones are answered (in one batch), the bad one reported
    code = cli_main(["--space", str(toy["folder"]), "--wav", toy["wavs16"][2], "/nonexistent.wav",
                     toy["wavs16"][3], "--json", "--method", "nn"])
    captured = capsys.readouterr()
    assert code == 1 and "nonexistent.wav" in captured.err
    answers = [json.loads(line) for line in captured.out.splitlines()]
    assert [a["nn"]["words"][0]["word"] for a in answers] == ["charlie", "delta"]
    assert cli_main(["--space", "no/such/aligned/space", "--wav", toy["wavs16"][0]]) == 1
    assert "no/such/aligned/space/hyperparams.yaml: not found" in capsys.readouterr().err


def test_foreign_vectors_in_text_space(toy, tmp_path):
    """Without foreign_mapping the foreign vectors are searched with W x."""
    folder = tmp_path / "space2"
    export_aligned_space(
        folder, toy["encoder"], ENC_HPARAMS, toy["extractor"], Embeddings(WORDS, toy["speech"]),
        torch.from_numpy(toy["rot"]), Embeddings(toy["text_words"], toy["text"]),
        foreign_vectors=Embeddings([w.upper() for w in toy["text_words"]], toy["text"]),
    )
    space = AlignedSpace.from_hparams(source=folder)
    assert space.translate(toy["wavs16"][3], k=1, method="nn")[0]["word"] == "DELTA"
    assert not os.path.exists(folder / "foreign_mapping.ckpt")


def test_bad_inputs(toy, tmp_path):
    speech = Embeddings(WORDS, toy["speech"])
    text = Embeddings(toy["text_words"], toy["text"])
    with pytest.raises(ValueError, match="mapping has shape"):
        export_aligned_space(tmp_path / "a", toy["encoder"], ENC_HPARAMS, toy["extractor"],
                             speech, np.eye(7), text)
    with pytest.raises(ValueError, match="statistics"):
        export_aligned_space(tmp_path / "a", toy["encoder"], ENC_HPARAMS,
                             FeatureExtractor(), speech, toy["rot"], text)
    with pytest.raises(AlignedSpaceError, match="hyperparams.yaml: not found"):
        AlignedSpace.from_hparams(source=tmp_path / "nothing")
    folder = tmp_path / "b"
    export_aligned_space(folder, toy["encoder"], ENC_HPARAMS, toy["extractor"], speech, toy["rot"], text)
    space = AlignedSpace.from_hparams(source=folder)
    with pytest.raises(AlignedSpaceError, match="no 'foreign' vectors"):
        space.translate(toy["wavs16"][0])
    with pytest.raises(ValueError, match="unknown retrieval method"):
        space.nearest_words(toy["wavs16"][0], method="cosine")
    os.remove(folder / "mapping.ckpt")
    with pytest.raises(AlignedSpaceError, match="mapping.ckpt: missing"):
        AlignedSpace.from_hparams(source=folder)
    text = (folder / "hyperparams.yaml").read_text()
    (folder / "hyperparams.yaml").write_text(text.replace("format_version: 2", "format_version: 1"))
    with pytest.raises(AlignedSpaceError, match="format_version 1, this code reads 2"):
        AlignedSpace.from_hparams(source=folder)


def test_query_file_rewritten_in_place(toy, tmp_path):
    """A query path reused for another recording is read afresh (no stale file info)."""
    space = AlignedSpace.from_hparams(source=toy["folder"])
    query = tmp_path / "query.wav"
    for index, keep in ((0, 1.0), (3, 0.5), (5, 1.0)):
        signal, rate = soundfile.read(toy["wavs16"][index], dtype="float32")
        soundfile.write(query, signal[: int(len(signal) * keep)], rate, subtype="FLOAT")
        vector = space.encode(str(query))
        assert np.allclose(vector, toy["speech"][index], atol=1e-5) == (keep == 1.0)
        if keep == 1.0:
            assert space.nearest_words(str(query), k=1, method="nn")[0]["word"] == WORDS[index]


def test_pretrained_interface_from_hparams_with_savedir(toy, tmp_path):
    """A SpeechBrain Pretrained: the pretrainer collects the files into savedir."""
    savedir = tmp_path / "collected"
    space = AlignedSpace.from_hparams(source=str(toy["folder"]), savedir=str(savedir),
                                      run_opts={"device": "cpu"})
    assert isinstance(space, Pretrained) and space.device == "cpu"
    assert sorted(os.listdir(savedir)) == sorted(os.listdir(toy["folder"]))
    assert not any(p.requires_grad for p in space.mods.encoder.parameters())
    assert space.nearest_words(toy["wavs16"][2], k=1)[0]["word"] == "charlie"


def test_encode_batch_equals_each_signal_alone(toy):
    """Two signals of different lengths in one padded batch (relative lengths)
    get the vectors each gets alone, whatever the padding holds."""
    space = AlignedSpace.from_hparams(source=toy["folder"])
    a = soundfile.read(toy["wavs16"][1], dtype="float32")[0]
    b = soundfile.read(toy["wavs16"][4], dtype="float32")[0][:4000]  # 0.25 s
    alone = [space.encode_batch(torch.from_numpy(x)[None]).numpy()[0] for x in (a, b)]
    batch = torch.full((2, len(a) + 800), 0.5)  # padding that would change features
    batch[0, : len(a)] = torch.from_numpy(a)
    batch[1, : len(b)] = torch.from_numpy(b)
    lens = torch.tensor([len(a), len(b)]) / batch.shape[1]
    together = space.encode_batch(batch, lens).numpy()
    assert np.allclose(together, np.stack(alone), atol=1e-5)
    assert np.allclose(alone[0], toy["speech"][1], atol=1e-5)
    assert not np.allclose(alone[1], toy["speech"][4], atol=1e-3)  # cut short: another vector
    # batched queries answer as single ones
    answers = space.query_batch([toy["wavs16"][0], toy["wavs22"][3], toy["wavs16"][5]], k=2)
    assert [a["nn"]["words"][0]["word"] for a in answers] == ["alpha", "delta", "foxtrot"]
    assert "notes" in answers[1] and "notes" not in answers[0]
    alone = space.query(toy["wavs16"][5], k=2)
    for method in ("nn", "csls"):
        for key in ("words", "translations"):
            got, expected = answers[2][method][key], alone[method][key]
            assert [a["word"] for a in got] == [a["word"] for a in expected]
            assert [a["score"] for a in got] == pytest.approx([a["score"] for a in expected], abs=1e-5)
    with pytest.raises(QueryError, match="signal 1 of the batch: silent"):
        space.encode_batch(torch.stack([torch.from_numpy(a[:4000]), torch.zeros(4000)]))


def test_export_from_speech2vec_run(tmp_path):
    """The encoder, its settings and the feature statistics come from a finished
    recipe run: its saved hyperparams.yaml and best checkpoint."""
    import speechbrain as sb
    from test_speech2vec import FAST_YAML, _hparams, make_corpus

    from speechbrain_align.dataio.vectors import load_embeddings
    from speechbrain_align.inference.export import ExportError, export_speech2vec_space
    from speechbrain_align.speech.speech2vec_brain import run_speech2vec

    corpus = make_corpus(str(tmp_path / "corpus"), n_utts=6)
    out = str(tmp_path / "run")
    extra = "decoder_input_dropout: 0.25\n"
    hparams = _hparams(corpus, out, 2, extra)
    overrides = {"train_csv": corpus, "output_folder": out, "emb_dim": 8, "enc_hidden": 16,
                 "dec_hidden": 16, "decoder_input_dropout": 0.25, "valid_csv": None}
    sb.create_experiment_directory(out, hyperparams_to_save=FAST_YAML, overrides=overrides)
    run_speech2vec(hparams, {"device": "cpu", "noprogressbar": True})
    types = load_embeddings(os.path.join(out, "vectors", "types_label.npz"))
    rot = _random_orthogonal(8, 3)
    folder = tmp_path / "space"
    with pytest.raises(ExportError, match="hyperparams.yaml: not found"):
        export_speech2vec_space(folder, tmp_path / "corpus", types, rot, types)
    export_speech2vec_space(folder, out, types, rot, Embeddings(types.words, types.vectors @ rot.T))
    space = AlignedSpace.from_hparams(source=folder)
    model = space.mods.encoder
    assert isinstance(model, Speech2Vec) and model.emb_dim == 8
    assert model.decoder.input_dropout == 0.25  # a setting no caller listed
    best = hparams["checkpointer"].find_checkpoint(min_key="loss")
    state = torch.load(best.paramfiles["model"])
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    fx = FeatureExtractor.load(os.path.join(out, "save", "feature_extractor.json"))
    assert space.features.norm == fx.norm == "speaker"
    assert np.array_equal(space.features.mean, fx.mean)
    # a segment's own audio finds its word type among the text words (a rotation of the types)
    rows = [r for r in read_segment_manifest(corpus)][:3]
    for row in rows:
        audio, rate = soundfile.read(row["wav"], dtype="float32")
        signal = audio[int(row["start"] * rate): int(row["stop"] * rate)]
        vector = space.encode((signal, rate))
        words = space.search(vector[None], k=len(types), method="nn")[0]
        assert {w["word"] for w in words} == set(types.words)
