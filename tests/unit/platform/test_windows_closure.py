"""The MSI's pinned wheel set is the agent's Windows runtime closure: nothing missing, nothing extra.

A dependency added to pyproject.toml (or moved to an extra) must show in
installer/windows/requirements-win.txt, or the MSI ships an agent that cannot import it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from packaging.utils import canonicalize_name

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
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, rest = line.partition("==")
            pins[canonicalize_name(name)] = rest.split()[0]
            assert "--hash=sha256:" in line, f"{name}: no hash"
    return pins


def test_requirements_win_is_the_runtime_closure() -> None:
    found, missing = _closure_module().closure(["phiwall", *WINDOWS_ONLY])
    needed = (found | missing) - {"phiwall"}
    pinned = _pinned(ROOT / "installer" / "windows" / "requirements-win.txt")
    assert sorted(needed - pinned.keys()) == [], "missing from requirements-win.txt"
    assert sorted(pinned.keys() - needed) == [], "not needed at run time on Windows"


def test_versions_follow_the_linux_constraints() -> None:
    linux = _pinned_loose(ROOT / "requirements" / "constraints.txt")
    pinned = _pinned(ROOT / "installer" / "windows" / "requirements-win.txt")
    differ = {
        name: (version, linux[name]) for name, version in pinned.items() if name in linux and linux[name] != version
    }
    assert differ == {}


def _pinned_loose(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.split(";")[0].strip()
    return pins
