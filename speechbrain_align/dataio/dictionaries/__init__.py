"""Bilingual dictionaries: MUSE files, FreeDict conversion, pivot synonyms, splits.

A dictionary is a list of ``(source, target)`` word pairs; a source word may
have several targets (one pair each), as in the MUSE ground-truth files
(``source<TAB>target`` or ``source target``, lower case, one pair per line).

The alignment is evaluated by word translation (MUSE dictionaries, or FreeDict
converted to the same format) and, for same-language speech/text alignment,
by synonym retrieval: as in Chung et al. (2018), two English words are
synonyms when they share a translation in a pivot language (en -> es -> en).

Modules: ``muse`` (files, grouping, filtering, splits), ``freedict`` (dictd
conversion), ``synonyms`` (pivot synonyms), ``cli``; the public names are
re-exported here.
"""

from speechbrain_align.dataio.dictionaries.muse import (
    DictionaryError,
    filter_to_vocabularies,
    group_by_source,
    read_muse_dictionary,
    split_dictionary,
    write_muse_dictionary,
)
from speechbrain_align.dataio.dictionaries.freedict import (
    FREEDICT_DIR,
    freedict_paths,
    freedict_to_muse,
    read_freedict,
)
from speechbrain_align.dataio.dictionaries.synonyms import (
    pivot_synonyms,
    read_synonyms,
    write_synonyms,
)
from speechbrain_align.dataio.dictionaries.cli import (
    main,
)

__all__ = [
    "DictionaryError",
    "filter_to_vocabularies",
    "group_by_source",
    "read_muse_dictionary",
    "split_dictionary",
    "write_muse_dictionary",
    "FREEDICT_DIR",
    "freedict_paths",
    "freedict_to_muse",
    "read_freedict",
    "pivot_synonyms",
    "read_synonyms",
    "write_synonyms",
    "main",
]
