"""The segment -> unit assignment file and per-unit tables (majority word, purity).

The labels are used for evaluation only: the units themselves are learnt
without them.
"""

import collections
import csv
import io
import os

from speechbrain_align.dataio.manifest import ManifestError, read_manifest_text
from speechbrain_align.utils.files import atomic_write


def write_assignment(path, assignment):
    """Write ``segment ID -> unit`` as a CSV with header ``ID,unit``, atomically."""
    with atomic_write(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "unit"])
        for seg_id, unit in assignment.items():
            writer.writerow([seg_id, unit])


def read_assignment(path):
    """Read an ``ID,unit`` CSV into a dict; errors name the file and line.

    A ``cluster`` column is accepted in place of ``unit``, so the k-means
    assignment of Speech2Vec word types
    (:func:`speechbrain_align.speech.wordtypes.write_assignment`) reads too.

    Example
    -------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.csv")
    >>> write_assignment(p, {"s_0000": "u0002", "s_0001": "u0000"})
    >>> read_assignment(p)
    {'s_0000': 'u0002', 's_0001': 'u0000'}
    """
    path = os.fspath(path)
    handle = io.StringIO(read_manifest_text(path, "assignment"), newline="")
    out = {}
    with handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        column = "unit" if "unit" in fields else "cluster"
        if "ID" not in fields or column not in fields:
            raise ManifestError(f"{path}:1: assignment needs columns 'ID' and 'unit' (or 'cluster')")
        for line_no, row in enumerate(reader, start=2):
            if not row["ID"] or not row[column]:
                raise ManifestError(f"{path}:{line_no}: empty ID or {column}")
            if row["ID"] in out:
                raise ManifestError(f"{path}:{line_no}: segment {row['ID']!r} is repeated")
            out[row["ID"]] = row[column]
    return out


def unit_majority(rows, assignment):
    """Majority word of every unit, from the segments' ``word`` labels.

    Segments with an empty word or without a unit are ignored. Ties go to
    the word seen first.

    Returns
    -------
    dict unit -> {"word", "majority", "size", "purity"} where ``size`` is
    the number of labelled segments in the unit and ``purity`` is
    ``majority / size``.

    Example
    -------
    >>> rows = [{"ID": "a", "word": "x"}, {"ID": "b", "word": "x"}, {"ID": "c", "word": "y"}]
    >>> unit_majority(rows, {"a": "u0", "b": "u0", "c": "u0"})["u0"]["word"]
    'x'
    """
    per_unit = collections.defaultdict(collections.Counter)
    for row in rows:
        unit = assignment.get(row["ID"])
        if unit is not None and row.get("word"):
            per_unit[unit][row["word"]] += 1
    table = {}
    for unit, counter in per_unit.items():
        word, majority = counter.most_common(1)[0]
        size = sum(counter.values())
        table[unit] = {"word": word, "majority": majority, "size": size, "purity": majority / size}
    return table


def main_types(majority, order, min_purity=0.5):
    """``word -> its main type``: the first unit of ``order`` (largest first) whose majority
    word it is, among the units of ``majority`` (:func:`unit_majority`) with at least
    ``min_purity``. A word's other such units are its *split types*.

    Example
    -------
    >>> majority = {"u0": {"word": "x", "purity": 1.0}, "u1": {"word": "x", "purity": 0.9},
    ...             "u2": {"word": "y", "purity": 0.4}}
    >>> main_types(majority, ["u1", "u0", "u2"])
    {'x': 'u1'}
    """
    first = {}
    for unit in order:
        info = majority.get(unit)
        if info is not None and info["purity"] >= min_purity:
            first.setdefault(info["word"], unit)
    return first


def clustering_purity(rows, assignment):
    """Purity, word types covered and number of clusters of an assignment.

    Purity is the share of labelled segments whose unit's majority word
    equals their own word; ``n_word_types_covered`` is the number of distinct
    majority words; ``n_clusters`` the number of units holding a labelled
    segment.

    Example
    -------
    >>> rows = [{"ID": str(i), "word": w} for i, w in enumerate("aabbc")]
    >>> clustering_purity(rows, {"0": "u0", "1": "u0", "2": "u1", "3": "u1", "4": "u1"})
    {'purity': 0.8, 'n_word_types_covered': 2, 'n_clusters': 2, 'n_segments': 5}
    """
    table = unit_majority(rows, assignment)
    total = sum(t["size"] for t in table.values())
    correct = sum(t["majority"] for t in table.values())
    return {
        "purity": correct / total if total else None,
        "n_word_types_covered": len({t["word"] for t in table.values()}),
        "n_clusters": len(table),
        "n_segments": total,
    }


def write_unit_table(path, rows, assignment, emb=None):
    """CSV ``unit,size,majority_word,majority_count,purity`` (+ ``in_vectors``), atomically."""
    table = unit_majority(rows, assignment)
    with atomic_write(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["unit", "size", "majority_word", "majority_count", "purity", "in_vectors"])
        for unit in sorted(table):
            t = table[unit]
            in_vectors = "" if emb is None else int(unit in emb.index)
            writer.writerow(
                [unit, t["size"], t["word"], t["majority"], f"{t['purity']:.4f}", in_vectors]
            )
