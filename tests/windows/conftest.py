"""Wine fixtures: one Wine prefix per session (with the test-only DLL shims), the MSI built once.

Opt-in: these tests run with `PHIWALL_WINE_TESTS=1` (building the MSI and installing it under
Wine takes minutes); `PHIWALL_SKIP_WINE=1` or `-m "not wine"` skips them. An MSI built
earlier can be given with `PHIWALL_MSI=path` (skips the build).

Wine runs with stdout/stderr to pipes or DEVNULL, never to regular files (Wine's stdio on
regular files fails with WinError 6) and never inherited from pytest (msiexec then waits on
the pipe); `wineserver -w` waits for the prefix to go idle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUBS = Path(__file__).parent / "winestubs"
PYTHON = r"C:\Program Files\PhiWall\python\python.exe"


def _skip_reason() -> str | None:
    if os.environ.get("PHIWALL_SKIP_WINE") == "1":
        return "PHIWALL_SKIP_WINE=1"
    if os.environ.get("PHIWALL_WINE_TESTS") != "1":
        return "Wine tests are opt-in: set PHIWALL_WINE_TESTS=1 (several minutes; docs/operations.md)"
    for tool in ("wine", "wineserver", "x86_64-w64-mingw32-gcc"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install wine wine64 gcc-mingw-w64-x86-64 msitools)"
    if not os.environ.get("PHIWALL_MSI") and shutil.which("wixl") is None:
        return "wixl not installed (apt-get install msitools)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _skip_reason()
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.wine)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class Wine:
    prefix: Path

    @property
    def env(self) -> dict[str, str]:
        # Wine passes the Unix environment into Windows processes: drop the tests' PHIWALL_* overrides.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHIWALL_")}
        return {**env, "WINEPREFIX": str(self.prefix), "WINEDEBUG": "-all", "WINEARCH": "win64"}

    def run(self, *argv: str, timeout: float = 240, wait: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a Windows program; output comes back through a pipe, then (`wait`) the prefix goes idle.

        `wait=False` while a keep-alive process runs: `wineserver -w` would wait for it."""
        proc = subprocess.run(
            ["wine", *argv], env=self.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
        if wait:
            self.wait()
        return proc

    def wait(self) -> None:
        subprocess.run(["wineserver", "-w"], env=self.env, timeout=240, check=False)

    def python(self, code: str) -> str:
        proc = self.run(PYTHON, "-B", "-c", code)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    def drive_c(self, windows_path: str) -> Path:
        assert windows_path[:3].upper() == "C:\\"
        return self.prefix / "drive_c" / windows_path[3:].replace("\\", "/")


def _build_stubs(system32: Path) -> None:
    gcc = "x86_64-w64-mingw32-gcc"
    subprocess.run(
        [
            gcc,
            "-shared",
            "-O2",
            "-o",
            str(system32 / "bcryptprimitives.dll"),
            str(STUBS / "bcryptprimitives.c"),
            "-ladvapi32",
        ],
        check=True,
    )
    subprocess.run(
        [
            gcc,
            "-shared",
            "-nostdlib",
            "-o",
            str(system32 / "api-ms-win-core-synch-l1-2-0.dll"),
            str(STUBS / "synch.c"),
            str(STUBS / "synch.def"),
        ],
        check=True,
    )


@pytest.fixture(scope="session")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wine]:
    prefix = tmp_path_factory.mktemp("wineprefix")
    session = Wine(prefix)
    subprocess.run(
        ["wine", "wineboot", "-i"],
        env=session.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=240,
        check=True,
    )
    session.wait()
    _build_stubs(prefix / "drive_c" / "windows" / "system32")
    yield session
    subprocess.run(["wineserver", "-k"], env=session.env, check=False)


@pytest.fixture(scope="session")
def msi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("PHIWALL_MSI")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("msi")
    proc = subprocess.run(
        [str(ROOT / "installer" / "windows" / "build.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1])
