"""Results JSON -> Markdown tables and console tables.

Results are nested dictionaries ``{configuration: {condition: metrics}}``
where ``metrics`` is what :mod:`speechbrain_align.evaluation.tasks` returns
(``nn_P@1``, ``csls_P@5``, ``n_scored``, ``n_skipped``...). Keys starting
with ``_`` (e.g. ``_meta``) are kept in the JSON and left out of the tables.
In a table, rows are configurations, columns conditions, and one table is
made per retrieval method; a cell reads ``P@1 / P@5 (n=scored)``, plus the
number of skipped items when there are any.
"""

import json
import os

from speechbrain_align.utils.files import atomic_write, write_json

MISSING = "–"


def _visible(mapping):
    return [(k, v) for k, v in mapping.items() if not str(k).startswith("_")]


def _conditions(results):
    seen = []
    for _, conditions in _visible(results):
        for name, _ in _visible(conditions):
            if name not in seen:
                seen.append(name)
    return seen


def _fmt(value):
    return MISSING if value is None else f"{value:.1f}"


def format_cell(metrics, method="csls", ks=(1, 5)):
    """One table cell: ``P@1 / P@5 (n=scored[, skipped])``.

    Example
    -------
    >>> format_cell({"csls_P@1": 41.25, "csls_P@5": 60.0, "n_scored": 80, "n_skipped": 3})
    '41.2 / 60.0 (n=80, 3 skipped)'
    >>> format_cell(None)
    '–'
    """
    if not metrics:
        return MISSING
    values = [metrics.get(f"{method}_P@{k}") for k in ks]
    if all(v is None for v in values) and f"{method}_P@{ks[0]}" not in metrics:
        return MISSING
    text = " / ".join(_fmt(v) for v in values)
    n = metrics.get("n_scored")
    if n is not None:
        skipped = metrics.get("n_skipped") or 0
        text += f" (n={n}" + (f", {skipped} skipped)" if skipped else ")")
    return text


def _escape(text):
    return str(text).replace("|", "\\|")


def results_to_markdown(results, methods=("nn", "csls"), ks=(1, 5), title=None):
    """Markdown: one table per method, rows = configurations, columns = conditions.

    Example
    -------
    >>> res = {"A": {"dev": {"nn_P@1": 50.0, "nn_P@5": 75.0, "n_scored": 4, "n_skipped": 0}}}
    >>> print(results_to_markdown(res, methods=("nn",)))
    ### NN (P@1 / P@5, n scored)
    <BLANKLINE>
    | configuration | dev |
    |---|---|
    | A | 50.0 / 75.0 (n=4) |
    <BLANKLINE>
    """
    lines = [f"## {title}", ""] if title else []
    conditions = _conditions(results)
    header = " / ".join(f"P@{k}" for k in ks)
    for method in methods:
        lines += [f"### {method.upper()} ({header}, n scored)", ""]
        lines.append("| configuration | " + " | ".join(_escape(c) for c in conditions) + " |")
        lines.append("|---|" + "---|" * len(conditions))
        for config, by_condition in _visible(results):
            cells = [format_cell(by_condition.get(c), method, ks) for c in conditions]
            lines.append(f"| {_escape(config)} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def format_console(results, methods=("nn", "csls"), ks=(1, 5)):
    """A fixed-width text table for the terminal (one block per method).

    Example
    -------
    >>> res = {"A": {"dev": {"nn_P@1": 50.0, "nn_P@5": 75.0, "n_scored": 4}}}
    >>> print(format_console(res, methods=("nn",)))
    NN          dev
    A           50.0 / 75.0 (n=4)
    """
    conditions = _conditions(results)
    configs = [c for c, _ in _visible(results)]
    blocks = []
    for method in methods:
        rows = [[method.upper()] + [str(c) for c in conditions]]
        for config in configs:
            rows.append(
                [str(config)]
                + [format_cell(results[config].get(c), method, ks) for c in conditions]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        widths[0] = max(widths[0], 10)
        blocks.append(
            "\n".join(
                "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows
            )
        )
    return "\n\n".join(blocks)


def print_results(results, methods=("nn", "csls"), ks=(1, 5)):
    """Print :func:`format_console` of ``results``."""
    print(format_console(results, methods, ks))


def load_results(path):
    """Read a results JSON (``{}`` when the file does not exist)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except ValueError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from err


def merge_results(old, new):
    """``old`` updated with ``new`` one condition at a time (new wins).

    Example
    -------
    >>> merge_results({"A": {"x": 1, "y": 2}}, {"A": {"y": 3}, "B": {"x": 4}})
    {'A': {'x': 1, 'y': 3}, 'B': {'x': 4}}
    """
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in old.items()}
    for config, conditions in new.items():
        if isinstance(conditions, dict) and isinstance(merged.get(config), dict):
            merged[config].update(conditions)
        else:
            merged[config] = conditions
    return merged


def write_results(results, json_path, md_path=None, methods=("nn", "csls"), ks=(1, 5), title=None):
    """Write ``results`` as JSON and (optionally) as Markdown tables, atomically.

    Example
    -------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> res = {"A": {"dev": {"nn_P@1": 50.0, "nn_P@5": 75.0, "n_scored": 4}}}
    >>> write_results(res, os.path.join(d, "r.json"), os.path.join(d, "r.md"), methods=("nn",))
    >>> load_results(os.path.join(d, "r.json")) == res
    True
    >>> "| A | 50.0 / 75.0 (n=4) |" in open(os.path.join(d, "r.md")).read()
    True
    """
    write_json(json_path, results)
    if md_path is not None:
        with atomic_write(md_path) as handle:
            handle.write(results_to_markdown(results, methods, ks, title))


def _row_parts(row):
    """``"A (vecmap)"`` -> ``("A", "vecmap")``; ``"A*"`` -> ``("A", "supervised")``."""
    if row.endswith("*"):
        return row[:-1], "supervised"
    if row.endswith(")") and " (" in row:
        base, method = row[:-1].split(" (", 1)
        return base, method
    return row, None


def _ratio(value, reference):
    if value is None or reference is None or reference <= 0:
        return MISSING
    return f"{value / reference:.2f}"


def ratio_table(columns, condition, oracle="T", supervision=None):
    """Markdown: each row's metrics with its ratio to its supervised row and to the oracle.

    Arguments
    ---------
    columns : list of (title, {row: {condition: metrics}}, metric key, count key)
        One metric per column group, e.g. ``("token P@1", results["classification"],
        "csls_P@1", "n_scored")``.
    condition : str
        The condition (text space) shown.
    oracle : str
        Base name of the oracle row: ``X (m)`` is compared with ``T (m)``,
        ``X*`` with ``T*``.
    supervision : dict, optional
        Row -> what supervision it used (a column when given).

    Example
    -------
    >>> res = {"A*": {"c": {"p": 40.0, "n": 9}}, "A (adv)": {"c": {"p": 20.0, "n": 9}},
    ...        "T*": {"c": {"p": 80.0, "n": 9}}, "T (adv)": {"c": {"p": 80.0, "n": 9}}}
    >>> print(ratio_table([("acc", res, "p", "n")], "c").splitlines()[3])
    | A (adv) | 20.0 (n=9) | 0.50 | 0.25 |
    """
    rows = []
    for _, results, _, _ in columns:
        rows += [r for r, conds in _visible(results) if condition in conds and r not in rows]
    head = ["configuration"] + (["supervision"] if supervision else [])
    for title, _, _, _ in columns:
        head += [title, "÷ supervised", f"÷ {oracle}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        base, method = _row_parts(row)
        sup_row = f"{base}*"
        oracle_row = f"{oracle}*" if method == "supervised" else f"{oracle} ({method})"
        cells = [_escape(row)] + ([_escape(supervision.get(row, ""))] if supervision else [])
        for _, results, key, count in columns:
            metrics = results.get(row, {}).get(condition)
            value = None if not metrics else metrics.get(key)
            if value is None:
                cells += [MISSING] * 3
                continue
            cells.append(f"{value:.1f} (n={metrics.get(count, 0)})")
            sup = results.get(sup_row, {}).get(condition, {}).get(key)
            orc = results.get(oracle_row, {}).get(condition, {}).get(key)
            cells.append(MISSING if method == "supervised" else _ratio(value, sup))
            cells.append(MISSING if base == oracle else _ratio(value, orc))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
