"""Wine fixtures: one Wine prefix per session (with the test-only DLL shims), the MSI built once.

Part of the suite (scripts/test installs Wine, wixl and mingw-w64): building the MSI and
installing it under Wine takes minutes, so the tests share one xdist worker (group "wine") and
run in file order there. `PHIWALL_SKIP_WINE=1` (`scripts/test --no-wine`) or `-m "not wine"`
skips them. An MSI built earlier can be given with `PHIWALL_MSI=path` (skips the build).

Wine runs with stdout/stderr to pipes or DEVNULL, never to regular files (Wine's stdio on
regular files fails with WinError 6) and never inherited from pytest (msiexec then waits on
the pipe); `wineserver -w` waits for the prefix to go idle.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUBS = Path(__file__).parent / "winestubs"
PYTHON = r"C:\Program Files\PhiWall\python\python.exe"
WINE_PE_DIRS = (Path("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows"), Path("/usr/lib/wine/x86_64-windows"))
"""Where Debian (and upstream builds) keep Wine's own 64-bit PE DLLs."""
WINE_TEST_TIMEOUT = 1200
"""Seconds per Wine test (pytest-timeout's 300 s default is shorter than an MSI build on a loaded machine)."""
OVERRIDES = {"ucrtbase": ("wineucrt", ()), "propsys": ("wineprops", ("-loleaut32",))}
"""Wine DLLs replaced in the test prefix: name -> (the name Wine's own copy is kept under, link flags)."""


def _skip_reason() -> str | None:
    if os.environ.get("PHIWALL_SKIP_WINE") == "1":
        return "PHIWALL_SKIP_WINE=1"
    for tool in ("wine", "wineserver", "x86_64-w64-mingw32-gcc", "x86_64-w64-mingw32-objdump"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (scripts/setup.sh --dev installs it)"
    if _wine_pe_dir() is None:
        return f"Wine's 64-bit PE DLLs not found in {', '.join(map(str, WINE_PE_DIRS))}"
    if not os.environ.get("PHIWALL_MSI") and shutil.which("wixl") is None:
        return "wixl not installed (scripts/setup.sh --dev installs it)"
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist reads `xdist_group` (whose hook may otherwise run first)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _skip_reason()
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.wine)
            item.add_marker(pytest.mark.xdist_group("wine"))
            item.add_marker(pytest.mark.timeout(WINE_TEST_TIMEOUT))
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class Wine:
    prefix: Path
    _keeper: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        # Wine passes the Unix environment into Windows processes: drop the tests' PHIWALL_* overrides.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHIWALL_")}
        return {**env, "WINEPREFIX": str(self.prefix), "WINEDEBUG": "-all", "WINEARCH": "win64"}

    def run(
        self, *argv: str, timeout: float = 240, wait: bool = False, shims: bool = False, debug: str = "-all"
    ) -> subprocess.CompletedProcess[str]:
        """Run a Windows program; output comes back through a pipe, then (`wait`) the prefix goes idle.

        `wait` only when nothing else runs: once installed, the service starts with each new Wine
        session and its agent child keeps the prefix busy, so `wineserver -w` would not return.
        `shims`: this process loads the ucrtbase/propsys shims (OVERRIDES) instead of Wine's own.
        `debug`: WINEDEBUG channels for this process (its stderr), e.g. "err+all" for a diagnosis."""
        env = {**self.env, "WINEDEBUG": debug}
        if shims:
            env = {**env, "WINEDLLOVERRIDES": ",".join(OVERRIDES) + "=n,b"}
        proc = subprocess.run(
            ["wine", *argv], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
        if wait:
            self.wait()
        return proc

    def keep_alive(self) -> None:
        """Start the Wine session from a process with no pipes, and keep it up.

        The wineserver and the system services (services.exe, then the PhiWall service and its
        agent child) inherit the stdio of the process that starts the session. Started from a
        captured `run`, they would hold its pipes open and `run` would wait for them until its
        timeout; and Wine tears services down once no other process runs."""
        if self._keeper is None:
            self._keeper = subprocess.Popen(
                ["wine", str(self.prefix / "drive_c" / "windows" / "sleeper.exe")],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(3)

    def stop_keep_alive(self) -> None:
        if self._keeper is not None:
            self._keeper.kill()
            self._keeper.wait()
            self._keeper = None

    def wait(self, timeout: float = 240) -> bool:
        """Wait for the prefix to go idle (registry flushed to system.reg); False on timeout."""
        try:
            subprocess.run(["wineserver", "-w"], env=self.env, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return False
        return True

    def start_listening(self, argv: list[str], log: Path, port_file: Path) -> tuple[subprocess.Popen[bytes], str]:
        """A long-running Windows program with the shims, its output piped through `cat` into
        `log` (Wine's stdio cannot be a regular file); returns once it wrote HOST:PORT into
        `port_file` (PhiWall's proxy writes it once listening)."""
        env = {**self.env, "WINEDLLOVERRIDES": ",".join(OVERRIDES) + "=n,b", "PYTHONUNBUFFERED": "1"}
        env["PHIWALL_LOG_LEVEL"] = "INFO"
        command = " ".join(shlex.quote(part) for part in ["wine", *argv]) + f" 2>&1 | cat >{shlex.quote(str(log))}"
        proc = subprocess.Popen(["sh", "-c", command], env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().strip():
                return proc, port_file.read_text().strip()
            if proc.poll() is not None:
                break
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGTERM)
        raise AssertionError(f"{argv[2:5]} did not listen: {log.read_text(errors='replace')[-3000:]}")

    @staticmethod
    def stop_listening(proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)

    def python(self, code: str, *, shims: bool = False) -> str:
        proc = self.run(PYTHON, "-B", "-c", code, shims=shims)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    def drive_c(self, windows_path: str) -> Path:
        assert windows_path[:3].upper() == "C:\\"
        return self.prefix / "drive_c" / windows_path[3:].replace("\\", "/")


def _wine_pe_dir() -> Path | None:
    return next((folder for folder in WINE_PE_DIRS if (folder / "ucrtbase.dll").exists()), None)


def _exports(dll: Path) -> list[str]:
    """The export names of a PE DLL (objdump's name-pointer table)."""
    table = subprocess.run(
        ["x86_64-w64-mingw32-objdump", "-p", str(dll)], capture_output=True, text=True, check=True
    ).stdout.split("[Ordinal/Name Pointer] Table", 1)[1]
    names = []
    for line in table.splitlines()[1:]:
        if not line.strip():
            break
        names.append(line.split("]", 1)[1].strip())
    return sorted(set(names))


def _defined(obj: Path) -> set[str]:
    nm = subprocess.run(["x86_64-w64-mingw32-nm", str(obj)], capture_output=True, text=True, check=True)
    return {parts[2] for parts in (line.split() for line in nm.stdout.splitlines()) if parts[1:2] == ["T"]}


def _override(system32: Path, work: Path, name: str, renamed: str, libs: tuple[str, ...]) -> None:
    """Replace Wine's `name`.dll by winestubs/`name`.c: Wine's own copy is kept as `renamed`.dll and
    every export the shim does not define forwards to it (one C runtime, one propsys)."""
    builtin = _wine_pe_dir()
    assert builtin is not None
    shutil.copy(builtin / f"{name}.dll", system32 / f"{renamed}.dll")
    exports = _exports(builtin / f"{name}.dll")
    gcc = ["x86_64-w64-mingw32-gcc", "-O2", "-fno-builtin"]
    obj = work / f"{name}.o"
    subprocess.run([*gcc, "-c", "-o", str(obj), str(STUBS / f"{name}.c")], check=True)
    own = _defined(obj)
    (work / f"{renamed}.def").write_text(f"LIBRARY {renamed}.dll\nEXPORTS\n" + "".join(f"  {e}\n" for e in exports))
    subprocess.run(
        ["x86_64-w64-mingw32-dlltool", "-d", str(work / f"{renamed}.def"), "-l", str(work / f"lib{renamed}.a")],
        check=True,
    )
    forwards = "".join(f"  {e}={renamed}.{e}\n" for e in exports if e not in own)
    (work / f"{name}.def").write_text(f"LIBRARY {name}.dll\nEXPORTS\n{forwards}")
    link = ["-L", str(work), f"-l{renamed}", *libs]
    subprocess.run(
        [*gcc, "-shared", "-nostdlib", "-o", str(system32 / f"{name}.dll"), str(obj), str(work / f"{name}.def"), *link],
        check=True,
        capture_output=True,
    )


def _build_stubs(system32: Path, work: Path) -> None:
    for name, (renamed, libs) in OVERRIDES.items():
        _override(system32, work, name, renamed, libs)
    gcc = "x86_64-w64-mingw32-gcc"
    subprocess.run([gcc, "-O2", "-o", str(system32.parent / "sleeper.exe"), str(STUBS / "sleeper.c")], check=True)
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


def new_prefix(prefix: Path, work: Path) -> Wine:
    """A fresh 64-bit Wine prefix with the shims, its session kept alive (the fixture's and
    benchmarks/wine_overhead.py's). `work` holds the shims' build files."""
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
    work.mkdir(parents=True, exist_ok=True)
    _build_stubs(prefix / "drive_c" / "windows" / "system32", work)
    session.keep_alive()
    # Every python.exe (the service's agent child too) loads the shims; other programs do not.
    for name in OVERRIDES:
        key = r"HKCU\Software\Wine\AppDefaults\python.exe\DllOverrides"
        proc = session.run("reg", "add", key, "/v", name, "/d", "native,builtin", "/f")
        assert proc.returncode == 0, proc.stderr[-500:]
    return session


@pytest.fixture(scope="session")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wine]:
    session = new_prefix(tmp_path_factory.mktemp("wineprefix"), tmp_path_factory.mktemp("winestubs"))
    yield session
    session.stop_keep_alive()
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
