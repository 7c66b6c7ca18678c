"""requirements.lock agrees with setup.py, and the running environment with the lock."""

import ast
import importlib.metadata
import os
import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import REPO


def declared_requirements(setup_py=REPO / "setup.py"):
    """The ``install_requires`` and ``extras_require`` entries of setup.py, parsed."""
    tree = ast.parse(setup_py.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup":
            keywords = {k.arg: ast.literal_eval(k.value) for k in node.keywords
                        if k.arg in ("install_requires", "extras_require")}
            reqs = list(keywords.get("install_requires", []))
            for extra in keywords.get("extras_require", {}).values():
                reqs.extend(extra)
            return [Requirement(r) for r in reqs]
    raise AssertionError(f"{setup_py}: no setup() call")


def read_lock(path=REPO / "requirements.lock"):
    """``{canonical name: Version}`` of the lock; every line must be an exact pin."""
    pins = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", (
            f"{path}:{number}: {line!r} is not an exact '==' pin")
        pins[canonicalize_name(req.name)] = Version(specs[0].version)
    return pins


def lock_mismatches(requirements, pins):
    """Messages for each requirement missing from the lock or pinned outside its range."""
    problems = []
    for req in requirements:
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req.name} is declared in setup.py but missing from the lock")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req.name}: lock pins {pins[name]}, outside setup.py's '{req.specifier}'")
    return problems


def test_lock_pins_every_declared_dependency_within_its_range():
    pins = read_lock()
    assert {"torch", "torchaudio", "speechbrain"} <= set(pins)
    assert lock_mismatches(declared_requirements(), pins) == []


def test_mismatch_check_catches_a_missing_package_and_a_pin_out_of_range():
    pins = {"torch": Version("2.11.0"), "torchaudio": Version("2.11.1")}
    problems = lock_mismatches(
        [Requirement("torch==2.11.0"), Requirement("torchaudio==2.11.0"), Requirement("gensim>=4")],
        pins)
    assert len(problems) == 2
    assert any("torchaudio" in p and "2.11.1" in p for p in problems)
    assert any(p.startswith("gensim") and "missing" in p for p in problems)


def test_lock_rejects_a_range(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("# comment\ntorch==2.11.0\nnumpy>=1.24\n", encoding="utf-8")
    with pytest.raises(AssertionError, match=r"requirements.lock:3"):
        read_lock(lock)


@pytest.mark.skipif(os.environ.get("SB_ALIGN_LOCKED") != "1",
                    reason="only meaningful in the environment run.sh builds from the lock")
def test_installed_environment_matches_the_lock():
    pins = read_lock()
    wrong = []
    for dist in importlib.metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name in pins and Version(dist.version) != pins[name]:
            wrong.append(f"{name} {dist.version} installed, lock says {pins[name]}")
    assert wrong == []
    for name in ("torch", "torchaudio", "speechbrain"):
        version = re.sub(r"\+.*", "", importlib.metadata.version(name))
        assert Version(version) == pins[name]
