"""Reports of the paper's experiment: results tables, plots and diagnostics.

``recipes/Bible/experiment/run_experiment.py`` calls these after the
alignment grid (:mod:`speechbrain_align.evaluation.experiment`): the
supervised classifier's row, what supervision each row used, the summary
and per-task Markdown tables (``results.md`` / ``results.json``), the
figures, and the diagnostics table of what the speech vectors know.
"""

import json
import logging
import os

from speechbrain_align.dataio.vectors import Embeddings
from speechbrain_align.evaluation import tables
from speechbrain_align.utils.files import atomic_write, write_json

logger = logging.getLogger(__name__)


def classifier_rows(folder):
    """The supervised classifier's test accuracy as a classification row."""
    path = os.path.join(folder, "test_results.json")
    with open(path, encoding="utf-8") as handle:
        res = json.load(handle)
    test = res["splits"]["test"]
    cell = {
        "nn_P@1": 100.0 * res["test_accuracy"],
        "n_scored": test["tokens_kept"],
        "n_items": test["tokens_total"],
        "n_skipped": test["tokens_total"] - test["tokens_kept"],
        "n_classes": res["n_classes"],
    }
    return {"classifier": {f"word classifier ({res['model']}, {res['n_classes']} words)": {"same": cell}}}


# What each row learned from besides the audio (and the text side's own corpus).
ROW_SUPERVISION = {
    "A": "word boundaries, train speakers' word labels (types)",
    "B": "word boundaries",
    "B_awe": "word boundaries",
    "F": "train speakers' chunk labels (types)",
    "units": "word boundaries",
    "T": "oracle: transcripts of all spoken utterances",
}


def row_supervision(row, condition):
    """What supervision a table row used, e.g. for ``"B*"`` on ``"es"``.

    Example
    -------
    >>> row_supervision("B (adversarial)", "same")
    'word boundaries'
    >>> row_supervision("B*", "es")
    'word boundaries + majority labels + half of the en-es dictionary'
    """
    base = row.split(" (")[0].rstrip("*")
    text = ROW_SUPERVISION.get(base, "")
    if row.endswith("*"):
        if base in ("B", "B_awe", "units"):
            text += " + majority labels"
        text += " + half of the en-es dictionary" if condition == "es" else " + label dictionary"
    return text


def summary_tables(results):
    """Markdown: per condition, token- and type-level CSLS P@1 with ratios to X* and T."""
    parts = []
    for cond, title in (("same", "WEB text (same corpus)"), ("cross", "King James text (cross corpus)"),
                        ("es", "Reina-Valera 1909 (Spanish, translation)")):
        first = ("translation P@1", results.get("translation", {}), "csls_P@1", "n_scored") \
            if cond == "es" else \
            ("token P@1", results.get("classification", {}), "csls_P@1", "n_scored")
        columns = [
            first,
            ("top-500 types P@1", results.get("word_types", {}), "top500_csls_P@1", "n_top500"),
            ("ranks 500-1000 P@1", results.get("word_types", {}), "ranks500_1000_csls_P@1",
             "n_ranks500_1000"),
        ]
        rows = {r for _, res, _, _ in columns for r, c in res.items() if cond in c}
        sup = {r: row_supervision(r, cond) for r in rows}
        parts.append(f"### {title}\n\n" + tables.ratio_table(columns, cond, supervision=sup))
    return "## Summary: CSLS P@1 (%), ratio to the supervised row and to the oracle T\n\n" + \
        "\n".join(parts)


def awe_table(embeddings):
    """Markdown: same-different AP by pair kind, purity and K of each acoustic word embedding.

    Example
    -------
    >>> print(awe_table({"lda": {"sd_ap_same_speaker": 0.9, "sd_ap_cross_speaker_same_accent": 0.8,
    ...     "sd_ap_cross_accent": 0.7, "purity": 0.6, "inverse_purity": 0.5, "n_units": 10}}).splitlines()[-1])
    | lda | 0.900 | 0.800 | 0.700 | 0.600 | 0.500 | 10 |
    """
    keys = ("sd_ap_same_speaker", "sd_ap_cross_speaker_same_accent", "sd_ap_cross_accent",
            "purity", "inverse_purity")
    lines = ["| embedding | AP same speaker | AP cross speaker, same accent | AP cross accent "
             "| purity | inverse purity | K |", "|---|---|---|---|---|---|---|"]
    for name, m in embeddings.items():
        cells = ["–" if m.get(k) is None else f"{m[k]:.3f}" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {m.get('n_units', '–')} |")
    return "\n".join(lines)


def write_tables(results, corpus, spaces, out):
    """Write results.json and results.md and print the tables.

    ``results`` gains ``acoustic_word_embeddings`` (the AWE stage's
    metrics on the test speakers) when that stage ran.
    """
    awe = os.path.join(out, "awe", "awe_results.json")
    parts = ["# Results\n", summary_tables(results)]
    if os.path.exists(awe):
        with open(awe, encoding="utf-8") as handle:
            results["acoustic_word_embeddings"] = json.load(handle)["acoustic_word_embeddings"]
        parts.append("## Acoustic word embeddings: same-different AP on the test speakers' "
                     "segments\n\n" + awe_table(results["acoustic_word_embeddings"]))
    write_json(os.path.join(out, "results.json"), {"results": results, "corpus": corpus})
    titles = {
        "classification": "Spoken word classification (accuracy = P@1, P@5) on test speakers",
        "synonyms": "Synonym retrieval (P@1, P@5), pivot synonyms through Spanish",
        "translation": "Spoken word translation English speech -> Spanish text (P@1, P@5)",
    }
    merged = dict(results)
    classifier = merged.pop("classifier", {})
    merged["classification"] = dict(classifier, **merged.get("classification", {}))
    for task, title in titles.items():
        if merged.get(task):
            parts.append(tables.results_to_markdown(merged[task], title=title))
    text = "\n\n".join(parts) + "\n"
    with atomic_write(os.path.join(out, "results.md")) as handle:
        handle.write(text)
    print(text)


def _bar_table(task_results):
    """``{row: {condition: metrics}}`` -> ``{row: {"<cond> NN|CSLS": {"P@1", "P@5"}}}`` for bar plots.

    Example
    -------
    >>> _bar_table({"A": {"same": {"nn_P@1": 1.0, "nn_P@5": 2.0}}})
    {'A': {'same NN': {'P@1': 1.0, 'P@5': 2.0}}}
    """
    table = {}
    for row, conds in task_results.items():
        cells = {}
        for cond, metrics in conds.items():
            for method in ("nn", "csls"):
                if metrics.get(f"{method}_P@1") is not None:
                    cells[f"{cond} {method.upper()}"] = {
                        "P@1": metrics[f"{method}_P@1"], "P@5": metrics.get(f"{method}_P@5"),
                    }
        if cells:
            table[row] = cells
    return table


def make_plots(results, spaces, texts, out):
    """Training curves, P@k bars and the projection of config A before/after mapping."""
    from speechbrain_align.alignment.normalization import normalize_embeddings
    from speechbrain_align.alignment.mappings import load_mapping
    from speechbrain_align.evaluation import plots

    figures = os.path.join(out, "figures")
    logs = {
        "Speech2Vec (words)": os.path.join(out, "speech2vec_words", "train_log.txt"),
        "Speech2Vec (chunks)": os.path.join(out, "speech2vec_chunks", "train_log.txt"),
    }
    logs = {k: v for k, v in logs.items() if os.path.exists(v)}
    if logs:
        plots.plot_training_curves(logs, os.path.join(figures, "speech2vec_loss.png"))
    adv = {f"{row} -> WEB text": os.path.join(out, "alignment", f"{row}_same_adversarial",
                                              "train_log.txt") for row in spaces}
    adv = {k: v for k, v in adv.items() if os.path.exists(v)}
    if adv:
        plots.plot_training_curves(adv, os.path.join(figures, "adversarial.png"))
    for task in ("classification", "synonyms", "translation"):
        rows = dict(results.get(task, {}))
        if task == "classification":
            rows = dict(results.get("classifier", {}), **rows)
        table = _bar_table(rows)
        if table:
            plots.plot_precision_bars(table, os.path.join(figures, f"{task}_bars.png"), percent=True)
    mapping = os.path.join(out, "alignment", "A_same_supervised", "mapping.npy")
    if os.path.exists(mapping) and "A" in spaces:
        steps = ["unit", "center", "unit"]
        a = spaces["A"].types
        src = Embeddings(a.words, normalize_embeddings(a.vectors, steps))
        tgt = Embeddings(texts["same"].words, normalize_embeddings(texts["same"].vectors, steps))
        mapped = Embeddings(a.words, src.vectors @ load_mapping(mapping).T)
        plots.plot_alignment_projection(
            os.path.join(figures, "projection_A_supervised.png"), src, tgt, mapped,
            title="Config A: speech types and WEB text words, before and after A* mapping",
        )


def diagnostics(paths, out, text_vectors_path=None):
    """What the vectors of each configuration know (speech.diagnostics), as one table.

    A and F on the train speakers' segments, by label; B and units on every
    spoken segment, through their assignments (labels for evaluation only).
    The semantic reference is a text skip-gram trained on the same
    utterances' transcripts.
    """
    from speechbrain_align.speech.diagnostics import markdown_table, run_diagnostics

    folder = os.path.join(out, "diagnostics")
    spaces = os.path.join(out, "spaces")
    units = os.path.join(out, "units", "units")
    all_csv = os.path.join(out, "manifests", "all.csv")
    ref = text_vectors_path or os.path.join(folder, "transcript_skipgram.vec")
    jobs = [
        ("A: Speech2Vec by label", os.path.join(spaces, "A_types.npz"), None, paths["train_csv"]),
        ("B: Speech2Vec k-means", os.path.join(spaces, "B_types.npz"),
         os.path.join(spaces, "B_assignment.csv"), all_csv),
        ("F: equal chunks by label", os.path.join(out, "speech2vec_chunks", "vectors", "types_label.npz"),
         None, os.path.join(out, "speech2vec_chunks", "save", "equal_chunks_train.csv")),
        ("units: unit skip-gram", os.path.join(units, "units.vec"),
         os.path.join(units, "assignment.csv"), all_csv),
    ]
    tables = []
    for i, (name, vectors, assignment, manifest) in enumerate(jobs):
        if not os.path.exists(vectors) or not os.path.exists(manifest):
            logger.warning("diagnostics: %s missing, row skipped", vectors)
            continue
        report = run_diagnostics(
            vectors, manifest, os.path.join(folder, f"diag_{i}.json"), assignment=assignment,
            name=name, text_vectors=ref if os.path.exists(ref) else None,
            save_text_vectors=None if os.path.exists(ref) else ref,
            random_baseline=(i == 0), text_row=(i == 0), min_count=2,
        )
        tables.append(markdown_table(report))
    text = "# What the speech vectors know (training segments)\n\n" + "\n\n".join(tables) + "\n"
    with atomic_write(os.path.join(out, "diagnostics.md")) as handle:
        handle.write(text)
    print(text)
    return text
