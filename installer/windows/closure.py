"""Print the agent's runtime dependency closure on Windows, pinned from the Linux constraints.

pip evaluates environment markers for the machine it runs on, even with `--platform win_amd64`,
so a Windows wheel set cannot be resolved by pip on Linux. This walks the installed metadata of
the checkout's venv with the markers evaluated for CPython 3.12 on Windows x64 instead. Names
it cannot find installed (Windows-only: pywin32, pydivert, winrt-*) are printed unpinned: pin
them by hand, then download and hash (docs/operations.md "Windows").

    .venv/bin/python installer/windows/closure.py requirements/constraints.txt phiwall pywin32
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

WINDOWS = {
    "sys_platform": "win32",
    "platform_system": "Windows",
    "os_name": "nt",
    "platform_machine": "AMD64",
    "python_version": "3.12",
    "python_full_version": "3.12.9",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def applies(req: Requirement, extras: set[str]) -> str | None:
    """The extra under which `req` applies on Windows ("" for none), or None if it does not."""
    if req.marker is None:
        return ""
    for extra in sorted(extras | {""}):
        if req.marker.evaluate({**WINDOWS, "extra": extra}):
            return extra
    return None


def closure(roots: list[str]) -> tuple[set[str], set[str]]:
    found: set[str] = set()
    missing: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(root) for root in roots]
    while todo:
        req = todo.pop()
        name, extras = canonicalize_name(req.name), set(req.extras)
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.add(name)
            continue
        found.add(name)
        for text in dist.requires or []:
            dep = Requirement(text)
            if applies(dep, extras) is not None:
                todo.append(dep)
    return found, missing


def read_pins(path: Path) -> dict[str, str]:
    """NAME -> version of every `NAME==VERSION` line (markers, hashes and comments dropped)."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version.split(";")[0].split()[0]
    return pins


def main(argv: list[str]) -> int:
    pins = read_pins(Path(argv[1]))
    found, missing = closure(argv[2:])
    for name in sorted(found | missing):
        print(f"{name}=={pins[name]}" if name in pins else name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
