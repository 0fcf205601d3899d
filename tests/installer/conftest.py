"""A wheelhouse built once per test session from this checkout and its pinned dependencies.

The installer test then does a real offline install (`install.sh --wheelhouse`) into a fresh
virtual environment: the same path a hospital's packaging uses, without fetching anything
during the install itself. Building the wheelhouse uses pip's cache, so after the first run
on a machine it takes seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheelhouse")
    built = subprocess.run(
        [
            sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "-w", str(out),
            "-c", str(CHECKOUT / "requirements" / "constraints.txt"), str(CHECKOUT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, f"pip wheel failed: {built.stderr[-3000:]}"
    return out
