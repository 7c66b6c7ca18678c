"""Prepare the default corpus: a spoken World English Bible plus text Bibles.

The speech side is a set of chapters of the World English Bible (SWORD module
``engWEB2015eb``) read by synthetic espeak-ng speakers
(:mod:`speechbrain_align.dataio.synthetic`): segment manifests with exact word
boundaries and phones, 16 kHz FLAC audio, speaker-disjoint splits. The text
side never contains a spoken chapter, in any translation:

* ``web_text.txt``  the other WEB chapters (same translation, disjoint text);
* ``kjv.txt``       King James Version (``engKJV2006eb``), same chapters left out;
* ``rv1909.txt``    Spanish Reina-Valera 1909 (``spaRV1909eb``), same chapters left out;
* ``speech_transcripts.txt``  the spoken utterances' transcripts (one line each,
  train, valid then test), for oracle comparisons only.

All text files are tokenised with :func:`speechbrain_align.dataio.tokenize.tokenize`
(one verse per line). Books are limited to the 66-book canon that the three
Bibles share.

Sizes: ``"small"`` (default) speaks about ``speech_tokens=25000`` tokens
(chapters drawn at random with ``seed``), so that the whole experiment runs in
minutes on 2 CPU cores; ``"full"`` speaks half of the WEB chapters and keeps
the other half as text.

Layout::

    <data_folder>/speech/{train,valid,test}.csv, audio/, corpus_stats.json
    <data_folder>/text/{web_text,kjv,rv1909,speech_transcripts}.txt
    <data_folder>/bible_corpus.json   sizes, chosen chapters, build times

Usage::

    python recipes/Bible/bible_prepare.py --data_folder data/bible_small [--size small]
        [--speech_tokens 25000] [--speakers 24] [--seed 1234] [--workers 2]

Requires the Debian packages ``libsword-utils`` (``mod2imp``),
``sword-text-web``, ``sword-text-kjv`` and ``sword-text-sparv``.
"""

import argparse
import concurrent.futures
import functools
import json
import logging
import multiprocessing
import os
import random
import sys
import time

from speechbrain_align.dataio.manifest import group_by_utterance, read_segment_manifest
from speechbrain_align.dataio.synthetic.build import FORMAT_VERSION, build_corpus
from speechbrain_align.dataio.synthetic.speakers import DEFAULT_SPLITS
from speechbrain_align.dataio.sword import PROTESTANT_CANON, read_sword_verses
from speechbrain_align.dataio.text import write_text_corpus
from speechbrain_align.dataio.tokenize import tokenize
from speechbrain_align.utils.errors import run_main
from speechbrain_align.utils.files import already_prepared, mark_prepared, write_json

logger = logging.getLogger(__name__)

SPEECH_MODULE = "engWEB2015eb"
TEXT_MODULES = {"web_text.txt": "engWEB2015eb", "kjv.txt": "engKJV2006eb",
                "rv1909.txt": "spaRV1909eb"}
SIZES = ("small", "full")
SMALL_SPEECH_TOKENS = 25000


def chapter_of(ref):
    """Chapter id of a verse reference.

    Example
    -------
    >>> chapter_of("1Sam.3.10")
    '1Sam.3'
    """
    return ref.rsplit(".", 1)[0]


def group_chapters(verses):
    """Group ``[(ref, text), ...]`` into ``[(chapter_id, [(ref, text), ...]), ...]``.

    Example
    -------
    >>> group_chapters([("Gen.1.1", "a"), ("Gen.1.2", "b"), ("Gen.2.1", "c")])
    [('Gen.1', [('Gen.1.1', 'a'), ('Gen.1.2', 'b')]), ('Gen.2', [('Gen.2.1', 'c')])]
    """
    chapters = {}
    for ref, text in verses:
        chapters.setdefault(chapter_of(ref), []).append((ref, text))
    return list(chapters.items())


def choose_speech_chapters(chapters, size="small", speech_tokens=None, seed=1234,
                           min_chapters=1):
    """Chapter ids to speak, drawn deterministically from ``seed``.

    ``"small"``: chapters in a seeded random order until ``speech_tokens``
    (default 25,000) tokens and ``min_chapters`` chapters (one per speaker at
    least) are reached; ``"full"``: half of the chapters. Returns a set of
    chapter ids.

    Example
    -------
    >>> chs = [(f"Gen.{i}", [(f"Gen.{i}.1", "w " * 10)]) for i in range(1, 11)]
    >>> sorted(choose_speech_chapters(chs, "small", speech_tokens=25, seed=1))
    ['Gen.10', 'Gen.7', 'Gen.9']
    >>> len(choose_speech_chapters(chs, "full"))
    5
    """
    if size not in SIZES:
        raise ValueError(f"size={size!r}: choose one of {SIZES}")
    order = [cid for cid, _ in chapters]
    random.Random(seed).shuffle(order)
    if size == "full":
        return set(order[: len(order) // 2])
    target = SMALL_SPEECH_TOKENS if speech_tokens is None else int(speech_tokens)
    if target <= 0:
        raise ValueError(f"speech_tokens={speech_tokens}: must be positive")
    tokens = {cid: sum(len(tokenize(t)) for _, t in verses) for cid, verses in chapters}
    chosen, total = set(), 0
    for cid in order:
        if total >= target and len(chosen) >= min_chapters:
            break
        chosen.add(cid)
        total += tokens[cid]
    return chosen


def _write_transcripts(speech_dir, split_names, path):
    lines = []
    for split in split_names:
        rows = read_segment_manifest(os.path.join(speech_dir, f"{split}.csv"))
        for utt_rows in group_by_utterance(rows).values():
            lines.append(" ".join(r["word"] for r in utt_rows))
    return write_text_corpus(lines, path)


def prepare_bible(
    data_folder,
    size="small",
    seed=1234,
    speech_tokens=None,
    n_speakers=24,
    splits=DEFAULT_SPLITS,
    num_workers=2,
    books=PROTESTANT_CANON,
    progress=True,
):
    """Build the spoken-Bible corpus and the text corpora (see module docstring).

    Arguments
    ---------
    data_folder : str
        Output folder.
    size : "small" or "full"
        ``small``: about ``speech_tokens`` spoken tokens; ``full``: half of WEB.
    seed : int
        Chooses the spoken chapters, the speakers and their splits.
    speech_tokens : int, optional
        Spoken tokens for ``size="small"`` (default 25,000).
    n_speakers : int
        Synthetic speakers (default 24, split 16/4/4).
    splits : sequence of (name, fraction or count)
        Speaker-disjoint splits passed to :func:`build_corpus`.
    num_workers : int
        Synthesis processes.
    books : iterable of str, optional
        OSIS book ids to use (default: the 66 books the three Bibles share).
    progress : bool
        tqdm progress bar while speaking.

    Returns
    -------
    dict : the sizes also written to ``<data_folder>/bible_corpus.json``.

    Rerunning with the same options does nothing and returns the stored sizes.
    """
    t0 = time.time()
    data_folder = os.fspath(data_folder)
    speech_dir = os.path.join(data_folder, "speech")
    text_dir = os.path.join(data_folder, "text")
    summary_path = os.path.join(data_folder, "bible_corpus.json")
    split_names = [name for name, _ in splits]
    outputs = [summary_path] + [os.path.join(speech_dir, f"{s}.csv") for s in split_names]
    outputs += [os.path.join(text_dir, name) for name in
                list(TEXT_MODULES) + ["speech_transcripts.txt"]]
    books = None if books is None else sorted(books)
    options = {
        "size": size, "seed": seed, "n_speakers": n_speakers,
        "speech_tokens": speech_tokens if size == "small" else None,
        "splits": [list(s) for s in splits], "books": books, "version": 1,
        "speech_format": FORMAT_VERSION,
    }
    if already_prepared(outputs, options):
        logger.info("%s: Bible corpus already prepared with these options", data_folder)
        with open(summary_path, encoding="utf-8") as handle:
            return json.load(handle)

    # the three exports side by side (parsing the markup takes 3-7 s each, in Python),
    # in forked processes as the speech below
    t_read = time.time()
    modules = sorted(set(TEXT_MODULES.values()))
    fork = "fork" in multiprocessing.get_all_start_methods()
    with concurrent.futures.ProcessPoolExecutor(
            max(1, min(len(modules), num_workers or 1)),
            mp_context=multiprocessing.get_context("fork" if fork else "spawn")) as pool:
        verses = dict(zip(modules, pool.map(functools.partial(read_sword_verses, books=books),
                                            modules)))
    for module in modules:
        logger.info("%s: %d verses", module, len(verses[module]))
    logger.info("SWORD texts read in %.1f s", time.time() - t_read)
    chapters = group_chapters(verses[SPEECH_MODULE])
    spoken = choose_speech_chapters(chapters, size, speech_tokens, seed,
                                    min_chapters=n_speakers)
    passages = [(cid, vs) for cid, vs in chapters if cid in spoken]

    t_speech = time.time()
    speech = build_corpus(passages, speech_dir, lang="en", n_speakers=n_speakers,
                          splits=splits, seed=seed, num_workers=num_workers,
                          progress=progress)
    speech_seconds = time.time() - t_speech

    text = {}
    for name, module in TEXT_MODULES.items():
        kept = [(ref, t) for ref, t in verses[module] if chapter_of(ref) not in spoken]
        text[name] = write_text_corpus(kept, os.path.join(text_dir, name))
    text["speech_transcripts.txt"] = _write_transcripts(
        speech_dir, split_names, os.path.join(text_dir, "speech_transcripts.txt"))

    speech_summary = {k: v for k, v in speech.items() if k != "speaker_table"}
    summary = {
        "size": size, "seed": seed,
        "speech": speech_summary,
        "text": text,
        "speech_chapters": [cid for cid, _ in passages],
        "n_chapters": len(chapters),
        "build_seconds": {"speech": round(speech_seconds, 1),
                          "total": round(time.time() - t0, 1)},
    }
    write_json(summary_path, summary)
    mark_prepared(outputs, options)
    return summary


def main(argv=None):
    """Command line: ``python bible_prepare.py --data_folder DIR [--size small]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_folder", required=True)
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--speech_tokens", type=int, default=None)
    parser.add_argument("--speakers", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    summary = prepare_bible(args.data_folder, size=args.size, seed=args.seed,
                            speech_tokens=args.speech_tokens, n_speakers=args.speakers,
                            num_workers=args.workers)
    shown = {k: v for k, v in summary.items() if k != "speech_chapters"}
    print(json.dumps(shown, indent=2, sort_keys=True))


if __name__ == "__main__":
    sys.exit(run_main(main))
