"""``python -m speechbrain_align.dataio.dictionaries``: see :mod:`~speechbrain_align.dataio.dictionaries.cli`."""

if __name__ == "__main__":
    import sys

    from speechbrain_align.dataio.dictionaries.cli import main
    from speechbrain_align.utils.errors import run_main

    sys.exit(run_main(main))
