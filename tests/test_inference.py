"""Aligned-space export, loading and spoken-word retrieval on a toy space with known answers."""

import json
import os

import numpy as np
import pytest
import soundfile
import torch

from speechbrain_align.dataio.vectors import Embeddings
from speechbrain_align.inference.__main__ import main as cli_main
from speechbrain_align.inference.pretrained import (
    AlignedSpace,
    AlignedSpaceError,
    export_aligned_space,
    fit_normalizer,
)
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
                    extractor.compute_features(soundfile.read(p, dtype="float32")[0])[None],
                    torch.tensor([len(r)]),
                )[0].numpy()
                for p, r in zip(wavs16, raw)
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
            "hyperparams.yaml", "encoder.ckpt", "features.json", "speech_vectors.npz",
            "text_vectors.npz", "mapping.npy", "foreign_vectors.npz", "foreign_mapping.npy",
        ]
    )
    text = (toy["folder"] / "hyperparams.yaml").read_text()
    assert "encoder: !new:speechbrain_align.nnet.speech2vec.Speech2Vec" in text
    assert "emb_dim: 8" in text


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
    assert not os.path.exists(folder / "foreign_mapping.npy")


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
    os.remove(folder / "mapping.npy")
    with pytest.raises(AlignedSpaceError, match="mapping.npy: missing"):
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
