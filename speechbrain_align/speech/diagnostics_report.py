"""The diagnostics report as JSON and as a Markdown table."""

import os

from speechbrain_align.utils.files import atomic_write, write_json


def _fmt(value, n=None):
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:.3f}"
    else:
        text = str(value)
    return text if n is None else f"{text} ({n})"


def markdown_table(report):
    """The report as a Markdown table (with notes) for READMEs and logs."""
    k = report["options"]["k"]
    headers = [
        "vectors", f"overlap@{k} text", f"overlap@{k} spelling", f"overlap@{k} phones",
        "WS353 rho", "SimLex rho", "purity", "clusters", "types covered",
    ]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in report["rows"]:
        cells = [
            row["name"],
            _fmt(row.get("overlap_text"), row.get("n_compared_text")),
            _fmt(row.get("overlap_spelling"), row.get("n_compared_spelling")),
            _fmt(row.get("overlap_phones"), row.get("n_compared_phones")),
            _fmt(row.get("wordsim353_rho"), row.get("wordsim353_pairs")),
            _fmt(row.get("simlex999_rho"), row.get("simlex999_pairs")),
            _fmt(row.get("purity")),
            _fmt(row.get("n_clusters")),
            _fmt(row.get("n_word_types_covered")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Overlap@{k}: mean share of the {k} nearest labels shared with the reference "
        "(number of word types compared in brackets); rho: Spearman (pairs covered)."
    )
    chance = report["rows"][0].get("chance_spelling")
    if chance is not None:
        lines.append(f"Chance overlap is about {chance:.3f} (k / (types - 1)).")
    for note in report["notes"]:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def write_report(report, json_path):
    """Write ``report`` to ``json_path`` and the Markdown table next to it (``.md``), atomically."""
    write_json(json_path, report)
    md_path = os.path.splitext(os.fspath(json_path))[0] + ".md"
    with atomic_write(md_path) as handle:
        handle.write(markdown_table(report))
    return md_path
