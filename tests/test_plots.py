"""Figures are written as real, non-trivial PNGs; bad inputs fail with clear messages."""

import json
import os

import matplotlib.image
import numpy as np
import pytest

from speechbrain_align.dataio.vectors import Embeddings
from speechbrain_align.evaluation.plots import (
    PlotInputError,
    load_curves,
    plot_alignment_projection,
    plot_precision_bars,
    plot_training_curves,
    read_train_log,
)


def _check_png(path, min_width=300, min_height=200):
    assert os.path.isfile(path)
    assert os.path.getsize(path) > 5000
    img = matplotlib.image.imread(path)
    assert img.shape[0] >= min_height and img.shape[1] >= min_width
    # Something is drawn: many distinct colours, not a blank canvas.
    rgb = (img[..., :3] * 255).astype(np.int64)
    colours = np.unique(rgb[..., 0] * 65536 + rgb[..., 1] * 256 + rgb[..., 2])
    assert len(colours) > 20
    # No temporary file is left behind.
    assert not [f for f in os.listdir(os.path.dirname(path)) if f.endswith(".tmp.png")]
    return img


SB_LOG = """epoch: 1, lr: 1.00e-03 - train loss: 2.1 - valid loss: 2.3, valid error: 6.0e-01
epoch: 2, lr: 1.00e-03 - train loss: 1.5 - valid loss: 1.9, valid error: 4.5e-01
epoch: 3, lr: 5.00e-04 - train loss: 1.1 - valid loss: 1.7, valid error: 4.0e-01
Epoch loaded: 3 - test loss: 1.8, test error: 4.1e-01
"""


def test_read_train_log(tmp_path):
    log = tmp_path / "train_log.txt"
    log.write_text(SB_LOG)
    records = read_train_log(log)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert records[2]["lr"] == pytest.approx(5e-4)
    assert records[1]["valid error"] == pytest.approx(0.45)
    assert "test loss" not in records[-1]


def test_training_curves_from_logs_and_json(tmp_path):
    log = tmp_path / "train_log.txt"
    log.write_text(SB_LOG)
    adv = tmp_path / "adv.json"
    adv.write_text(json.dumps({"epochs": [
        {"epoch": e, "disc_acc": 0.9 - 0.1 * e, "criterion": 0.1 * e} for e in range(1, 6)
    ]}))
    s2v = tmp_path / "s2v.json"
    s2v.write_text(json.dumps({"train loss": [3.0, 2.5, 2.2, 2.0], "valid loss": [3.1, 2.7, 2.5, None]}))
    assert len(load_curves(s2v)) == 4
    out = plot_training_curves(
        {"speech2vec": str(log), "adversarial": str(adv), "s2v-json": str(s2v)},
        tmp_path / "curves.png",
        title="curves",
    )
    img = _check_png(out, min_width=800)
    assert img.shape[1] > img.shape[0]  # several panels side by side
    out2 = plot_training_curves(str(adv), tmp_path / "one.png", metrics=["disc_acc"])
    _check_png(out2, min_width=300)


def test_training_curves_bad_inputs(tmp_path):
    with pytest.raises(PlotInputError, match="not found"):
        plot_training_curves(str(tmp_path / "nope.txt"), tmp_path / "x.png")
    bad_log = tmp_path / "bad.txt"
    bad_log.write_text("hello world\n")
    with pytest.raises(PlotInputError, match="bad.txt: no 'epoch: N"):
        plot_training_curves(str(bad_log), tmp_path / "x.png")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    with pytest.raises(PlotInputError, match="bad.json: not valid JSON"):
        plot_training_curves(str(bad_json), tmp_path / "x.png")
    with pytest.raises(PlotInputError, match=r"metrics \['accuracy'\] are in no source"):
        plot_training_curves([{"loss": 1.0}], tmp_path / "x.png", metrics=["accuracy"])
    with pytest.raises(PlotInputError, match="use a .png"):
        plot_training_curves([{"loss": 1.0}], tmp_path / "x.pdf")
    assert not (tmp_path / "x.png").exists()


def _spaces(n=300, dim=20, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n)]
    text = rng.normal(size=(n, dim))
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    speech = text @ q + 0.1 * rng.normal(size=(n, dim))
    mapped = speech @ q.T
    return Embeddings(words, speech), Embeddings(words[::-1], text[::-1]), Embeddings(words, mapped)


def test_alignment_projection(tmp_path):
    speech, text, mapped = _spaces()
    out = plot_alignment_projection(tmp_path / "proj.png", speech, text, mapped, n_labels=8, title="t")
    _check_png(out, min_width=1000, min_height=400)
    # Different dimensions before alignment: separate PCA, still drawn.
    small = Embeddings(speech.words, speech.vectors[:, :7])
    out2 = plot_alignment_projection(
        tmp_path / "proj2.png", small, text, mapped, label_words=["w1", "w2"], max_points=50
    )
    _check_png(out2)


def test_alignment_projection_bad_inputs(tmp_path):
    speech, text, mapped = _spaces(n=20)
    with pytest.raises(PlotInputError, match="same words"):
        plot_alignment_projection(tmp_path / "p.png", speech, text, text)
    with pytest.raises(PlotInputError, match="label_words not in both"):
        plot_alignment_projection(tmp_path / "p.png", speech, text, mapped, label_words=["zzz"])
    with pytest.raises(PlotInputError, match="mapped_speech has dimension 5"):
        plot_alignment_projection(
            tmp_path / "p.png", Embeddings(speech.words, speech.vectors[:, :5]), text,
            Embeddings(speech.words, speech.vectors[:, :5]),
        )
    with pytest.raises(PlotInputError, match="text: non-finite"):
        plot_alignment_projection(
            tmp_path / "p.png", speech, (text.words, np.full(text.vectors.shape, np.nan)), mapped
        )


def test_precision_bars(tmp_path):
    results = {
        "speech2vec+adv": {"NN": {"P@1": 0.21, "P@5": 0.45}, "CSLS": {"P@1": 0.27, "P@5": 0.52}},
        "speech2vec+adv+refine": {"NN": {"P@1": 0.33, "P@5": 0.61}, "CSLS": {"P@1": 0.38}},
        "supervised": {"NN": {"P@1": 0.61, "P@5": 0.80}, "CSLS": {"P@1": 0.66, "P@5": 0.85}},
    }
    out = plot_precision_bars(results, tmp_path / "bars.png", title="P@k")
    _check_png(out, min_width=600)
    out2 = plot_precision_bars({"a": {"x": {"P@10": 55.0}}}, tmp_path / "b2.png", metrics=["P@10"])
    _check_png(out2, min_width=400)


def test_precision_bars_bad_inputs(tmp_path):
    with pytest.raises(PlotInputError, match="non-empty"):
        plot_precision_bars({}, tmp_path / "b.png")
    with pytest.raises(PlotInputError, match=r"results\['a'\]\['NN'\]\['P@1'\] = 'high'"):
        plot_precision_bars({"a": {"NN": {"P@1": "high"}}}, tmp_path / "b.png")
    with pytest.raises(PlotInputError, match="no value for any"):
        plot_precision_bars({"a": {"NN": {"P@10": 0.2}}}, tmp_path / "b.png")
    with pytest.raises(PlotInputError, match=r"results\['a'\]: expected"):
        plot_precision_bars({"a": [0.1]}, tmp_path / "b.png")
    assert not (tmp_path / "b.png").exists()
