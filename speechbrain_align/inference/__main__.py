"""Command line: spoken word -> nearest text words and translations.

Usage::

    python -m speechbrain_align.inference --space FOLDER --wav word.wav [--k 5]
        [--method nn|csls|both] [--json]

``FOLDER`` is an aligned space written by
:mod:`speechbrain_align.inference.export`. Several ``--wav`` files may be
given (encoded together in padded batches; a file that cannot be read or holds
no word is reported and skipped). Prints a table per file, or one JSON object
per file with ``--json``.
"""

import argparse
import json
import sys


def build_parser():
    """The argument parser of the CLI."""
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_align.inference",
        description="Nearest text words and translations of a spoken word, "
        "through an exported aligned speech/text space.",
    )
    parser.add_argument("--space", required=True, help="aligned-space folder (hyperparams.yaml)")
    parser.add_argument("--wav", required=True, nargs="+", help="audio file(s) of one word each")
    parser.add_argument("--k", type=int, default=5, help="number of words to list (default 5)")
    parser.add_argument(
        "--method", choices=["nn", "csls", "both"], default="both", help="retrieval score"
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("--device", default="cpu", help="torch device for the encoder")
    return parser


def format_answer(wav, answer):
    """A human-readable table of one :meth:`AlignedSpace.query` answer."""
    lines = [f"{wav}:"] + [f"  note: {note}" for note in answer.get("notes", [])]
    for method in ("nn", "csls"):
        if method not in answer:
            continue
        for key, label in (("words", answer.get("language")), ("translations", answer.get("foreign_language"))):
            if key not in answer[method]:
                continue
            shown = ", ".join(f"{a['word']} ({a['score']:.3f})" for a in answer[method][key])
            lines.append(f"  {method:4s} {key} [{label}]: {shown}")
    return "\n".join(lines)


def main(argv=None):
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.k < 1:
        print("error: --k must be >= 1", file=sys.stderr)
        return 2
    from speechbrain_align.inference.pretrained import AlignedSpace
    from speechbrain_align.utils.errors import UserError

    try:
        space = AlignedSpace.from_hparams(source=args.space, run_opts={"device": args.device})
    except (UserError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    methods = ("nn", "csls") if args.method == "both" else (args.method,)
    status = 0
    wavs, signals, notes = [], [], []
    for wav in args.wav:  # each file checked on its own: one bad file does not stop the others
        try:
            signal, wav_notes = space.load_query(wav)
        except (UserError, ValueError, OSError) as err:
            print(f"error: {wav}: {err}", file=sys.stderr)
            status = 1
            continue
        wavs.append(wav)
        signals.append(signal)
        notes.append(wav_notes)
    if not wavs:
        return status
    answers = space.answers(space.encode_signals(signals), args.k, methods, notes)  # one batch
    for wav, answer in zip(wavs, answers):
        if args.json:
            print(json.dumps({"wav": wav, **answer}))
        else:
            print(format_answer(wav, answer))
    return status


if __name__ == "__main__":
    from speechbrain_align.utils.errors import run_main

    sys.exit(run_main(main))
