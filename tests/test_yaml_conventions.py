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
