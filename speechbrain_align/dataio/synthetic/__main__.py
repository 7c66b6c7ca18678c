"""``python -m speechbrain_align.dataio.synthetic``: see :mod:`~speechbrain_align.dataio.synthetic.cli`."""

if __name__ == "__main__":
    import sys

    from speechbrain_align.dataio.synthetic.cli import main
    from speechbrain_align.utils.errors import run_main

    sys.exit(run_main(main))
