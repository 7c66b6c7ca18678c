"""Command line of the corpus builder (``sb-align-build-corpus``,
``python -m speechbrain_align.dataio.synthetic``)."""

import argparse
import json
import logging

from speechbrain_align.dataio.synthetic.build import build_corpus
from speechbrain_align.dataio.synthetic.espeak import EspeakError
from speechbrain_align.dataio.synthetic.passages import CorpusError, read_passages


def main(argv=None):
    """Command line entry point (``sb-align-build-corpus``)."""
    parser = argparse.ArgumentParser(
        description="Speak a UTF-8 text file with espeak-ng voices into a "
        "multi-speaker corpus with word boundaries (segment manifests + FLAC)."
    )
    parser.add_argument("--text", required=True, help="UTF-8 text file")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--speakers", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--lang", default="en", help="en or es (espeak-ng language)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=40)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        passages = read_passages(args.text)
        stats = build_corpus(passages, args.out, lang=args.lang, n_speakers=args.speakers,
                             seed=args.seed, num_workers=args.workers,
                             max_tokens=args.max_tokens)
    except (CorpusError, EspeakError) as err:
        parser.exit(2, f"error: {err}\n")
    shown = {k: v for k, v in stats.items() if k != "speaker_table"}
    print(json.dumps(shown, indent=2, sort_keys=True))
    return 0
