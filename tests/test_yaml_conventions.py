"""Conventions every recipe YAML follows (checked over all of them)."""

import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_every_recipe_checkpointer_is_crash_safe():
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted(REPO.glob("recipes/**/hparams/*.yaml"))
        if "speechbrain.utils.checkpoints.Checkpointer" in path.read_text(encoding="utf-8")
    ]
    assert offenders == [], "use speechbrain_align.utils.checkpoints.SafeCheckpointer"


def test_every_recipe_yaml_seeds_with_seed_everything():
    """SpeechBrain's convention, one line in every training recipe's YAML (the
    experiment's YAMLs sequence recipes and pass their seed on)."""
    line = "__set_seed: !apply:speechbrain.utils.seed.seed_everything [!ref <seed>]"
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted(REPO.glob("recipes/*/*/hparams/*.yaml"))
        if "recipes/Bible/experiment/" not in path.as_posix()
        and line not in path.read_text(encoding="utf-8").splitlines()
    ]
    assert offenders == []
    assert len(list(REPO.glob("recipes/*/*/hparams/*.yaml"))) > 10


def test_importing_the_package_leaves_logging_alone():
    """faiss's loader logger is quieted by the scripts' entry point, not by an import."""
    import subprocess
    import sys

    code = (
        "import logging, speechbrain_align, speechbrain_align.retrieval.search\n"
        "print(logging.getLogger('faiss.loader').level)\n"
        "from speechbrain_align.utils.errors import run_main\n"
        "run_main(lambda argv: 0, [])\n"
        "print(logging.getLogger('faiss.loader').level)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout.split()
    assert out == ["0", "30"]
