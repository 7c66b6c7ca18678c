"""Shared fixtures: where the project's real test data lives, and small helpers."""

import os
import pathlib

import pytest
import torch

# Tiny models run fastest on one thread (and tests share the machine).
torch.set_num_threads(1)

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("SB_ALIGN_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_dataset(name):
    """Path of ``../shared/data/<name>``, or skip the test with a reason."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent (real data is only on developer machines and CI)")
    return path


@pytest.fixture
def timit_sample():
    """The public TIMIT sample (160 utterances with .wrd files)."""
    return shared_dataset("timit_sample")


@pytest.fixture
def speech_commands():
    """The Speech Commands v0.02 test set, 8 words."""
    return shared_dataset("speech_commands_v0.02_test")


@pytest.fixture
def muse_dictionaries():
    """The MUSE ground-truth bilingual dictionaries."""
    return shared_dataset("muse_dictionaries")
