"""Figures draw the data they are given (checked on the matplotlib objects), are written
as real PNGs, and bad inputs fail with clear messages."""

import json
import os

import matplotlib.image
import numpy as np
import pytest

from speechbrain_align.dataio.vectors import Embeddings
from speechbrain_align.evaluation.plots import (
    PlotInputError,
    draw_alignment_projection,
    draw_precision_bars,
    draw_training_curves,
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

    # What is drawn: one panel per metric, one line per source holding that source's values.
    fig = draw_training_curves({"speech2vec": str(log), "adversarial": str(adv), "s2v-json": str(s2v)})
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    assert list(panels) == ["train loss", "valid loss", "valid error", "disc_acc", "criterion"]
    assert all(ax.get_xlabel() == "epoch" for ax in panels.values())
    lines = {line.get_label(): line for line in panels["valid loss"].lines}
    assert set(lines) == {"speech2vec", "s2v-json"}
    assert lines["speech2vec"].get_xdata().tolist() == [1, 2, 3]
    assert lines["speech2vec"].get_ydata().tolist() == [2.3, 1.9, 1.7]
    assert lines["s2v-json"].get_ydata().tolist() == [3.1, 2.7, 2.5]  # the None is left out
    acc = panels["disc_acc"].lines
    assert [line.get_label() for line in acc] == ["adversarial"]
    assert np.allclose(acc[0].get_ydata(), [0.8, 0.7, 0.6, 0.5, 0.4])
    assert len(fig.axes) == 6 and not fig.axes[5].get_visible()  # 2 x 3 grid, last unused


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


def _projection_panels(fig):
    panels = []
    for ax in fig.axes:
        speech_pts, text_pts = (c.get_offsets() for c in ax.collections[:2])
        joins = [np.asarray(line.get_xydata()) for line in ax.lines]
        panels.append((ax.get_title(), speech_pts, text_pts, joins))
    return panels


def test_alignment_projection_draws_the_spaces():
    speech, text, mapped = _spaces()
    fig = draw_alignment_projection(speech, text, mapped, n_labels=8)
    (t0, s0, x0, j0), (t1, s1, x1, j1) = _projection_panels(fig)
    assert t0.startswith("before alignment (joint PCA") and t1.startswith("after alignment")
    assert len(s0) == len(s1) == len(x0) == len(x1) == 300
    assert len(j0) == len(j1) == 8
    # The labels are the first 8 shared words; each is drawn at its speech and text point.
    labels = [t.get_text() for t in fig.axes[1].texts]
    assert labels == [w for w in speech.words[:8] for _ in (0, 1)]
    # Mapped speech ~ text here (the map undoes the rotation), so after alignment the
    # joining lines are short and the clouds coincide; before, they are far apart.
    length = [np.median([np.linalg.norm(j[1] - j[0]) for j in joins]) for joins in (j0, j1)]
    spread = np.linalg.norm(x1 - x1.mean(axis=0), axis=1).mean()
    assert length[1] < 0.1 * spread < length[0]
    # Same order in both spaces: the text panel is text in reverse, so the text point of
    # w0 is the last text row (the first 300 rows of text are kept: all of them).
    w0_text = j1[0][1]
    assert np.allclose(w0_text, x1[-1])
    # Another map gives another picture: the check above fails for an unaligned map.
    fig = draw_alignment_projection(speech, text, speech, n_labels=8)
    _, _, x_bad, j_bad = _projection_panels(fig)[1]
    assert np.median([np.linalg.norm(j[1] - j[0]) for j in j_bad]) > 0.1 * spread


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

    # What is drawn: one panel per metric, one bar group per condition, one bar per
    # configuration, heights in percent, a gap (NaN) where a metric is missing.
    fig = draw_precision_bars(results, title="P@k")
    assert [ax.get_title() for ax in fig.axes] == ["P@1", "P@5"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["P@1 (%)", "P@5 (%)"]
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == list(results)
    heights = {
        (ax.get_title(), bars.get_label()): [b.get_height() for b in bars]
        for ax in fig.axes for bars in ax.containers
    }
    assert np.allclose(heights[("P@1", "NN")], [21, 33, 61])
    assert np.allclose(heights[("P@1", "CSLS")], [27, 38, 66])
    assert np.allclose(heights[("P@5", "CSLS")], [52, np.nan, 85], equal_nan=True)
    # Within a group the conditions sit side by side, in the order given.
    by_label = {bars.get_label(): bars for bars in fig.axes[0].containers}
    nn_x = [b.get_x() for b in by_label["NN"]]
    csls_x = [b.get_x() for b in by_label["CSLS"]]
    assert all(a < b for a, b in zip(nn_x, csls_x))
    # Percentages given as such are kept, and the axis says so.
    fig = draw_precision_bars({"a": {"x": {"P@10": 55.0}}}, metrics=["P@10"])
    assert fig.axes[0].containers[0][0].get_height() == 55.0
    assert fig.axes[0].get_ylabel() == "P@10"


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
