"""The MSI's pinned wheel set is the agent's Windows runtime closure: nothing missing, nothing extra.

A dependency added to pyproject.toml (or moved to an extra) must show in
installer/windows/requirements-win.txt, or the MSI ships an agent that cannot import it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]
WINDOWS_ONLY = {"pywin32"}  # pinned by hand: not installed on the Linux build host


def _closure_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("closure", ROOT / "installer" / "windows" / "closure.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pinned(path: Path) -> dict[str, str]:
    """The MSI's pins; every line must carry its wheel's hash (build.sh uses --require-hashes)."""
    unhashed = [line for line in path.read_text().splitlines() if "==" in line and "--hash=sha256:" not in line]
    assert unhashed == [], "no hash"
    pins: dict[str, str] = _closure_module().read_pins(path)
    return pins


def test_requirements_win_is_the_runtime_closure() -> None:
    found, missing = _closure_module().closure(["phiwall", *WINDOWS_ONLY])
    needed = (found | missing) - {"phiwall"}
    pinned = _pinned(ROOT / "installer" / "windows" / "requirements-win.txt")
    assert sorted(needed - pinned.keys()) == [], "missing from requirements-win.txt"
    assert sorted(pinned.keys() - needed) == [], "not needed at run time on Windows"


def test_versions_follow_the_linux_constraints() -> None:
    linux: dict[str, str] = _closure_module().read_pins(ROOT / "requirements" / "constraints.txt")
    pinned = _pinned(ROOT / "installer" / "windows" / "requirements-win.txt")
    differ = {
        name: (version, linux[name]) for name, version in pinned.items() if name in linux and linux[name] != version
    }
    assert differ == {}
