"""The MSI under Wine: install silently, the service prepares the machine and supervises the
agent, uninstall leaves nothing. The tests run in order and share one Wine prefix.

Timings (install, service preparation, uninstall) are printed (`-s`) for docs/operations.md.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.windows.conftest import PYTHON, Wine

FLEET_URL = "postgresql+psycopg://phiwall@fleet.example/phiwall"
REPOSITORY = "https://updates.example/phiwall/"
INSPECT = Path(__file__).parent / "inspect_machine.py"
STATE: dict[str, object] = {}


def _inspect(wine: Wine, cert: Path | None = None, *, wait: bool = True) -> dict[str, object]:
    argv = [PYTHON, "-B", "Z:" + str(INSPECT).replace("/", "\\")]
    if cert is not None:
        argv.append("Z:" + str(cert).replace("/", "\\"))
    proc = wine.run(*argv, wait=wait)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def test_msi_installs_silently_with_its_properties(wine: Wine, msi: Path) -> None:
    started = time.monotonic()
    proc = wine.run(
        "msiexec",
        "/i",
        "Z:" + str(msi).replace("/", "\\"),
        "/qn",
        f"FLEETURL={FLEET_URL}",
        f"SIGNATUREREPOSITORY={REPOSITORY}",
        timeout=600,
    )
    STATE["install_seconds"] = time.monotonic() - started
    print(f"\nMSI {msi.stat().st_size / 1e6:.0f} MB installed in {STATE['install_seconds']:.0f} s")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert wine.drive_c(PYTHON).exists()
    assert wine.drive_c(r"C:\Program Files\PhiWall\python\Lib\site-packages\agent\platform\winservice.py").exists()
    report = _inspect(wine)
    settings = report["settings"]
    assert isinstance(settings, dict)
    assert settings["FleetUrl"] == FLEET_URL
    assert settings["SignatureRepository"] == REPOSITORY
    assert report["image_path"] == f'"{PYTHON}" -B -m agent.platform.winservice'


def test_installed_python_runs_numpy_and_platform_with_the_wine_shims(wine: Wine) -> None:
    """numpy's import (ucrtbase.crealf) and `platform` (_wmi -> propsys.VariantToString) abort
    under Wine 8 without the test prefix's ucrtbase/propsys shims (winestubs)."""
    if "install_seconds" not in STATE:
        pytest.skip("the MSI did not install")
    started = time.monotonic()
    out = wine.python(
        "import numpy, platform; "
        "z = numpy.exp(1j * numpy.pi) + numpy.sqrt(numpy.array([-4 + 0j]))[0]; "
        "print(round(z.real, 6), round(z.imag, 6), platform.machine(), platform.system())",
        shims=True,
    )
    print(f"\nnumpy + platform imported by the installed Python in {time.monotonic() - started:.1f} s")
    assert out.split() == ["-1.0", "2.0", "AMD64", "Windows"]


@pytest.mark.xfail(
    strict=True,
    reason="the Windows build's agent child cannot import its components yet: top-level pwd/fcntl/termios "
    "imports, no Windows libchromaprint/libmagic/libarchive DLL shipped (docs/operations.md, Windows)",
)
def test_installed_python_imports_the_agent_child(wine: Wine) -> None:
    """What `agent.cli run` (the service's child) imports at start: every component factory and
    the proxy runner. Strict xfail: once the Windows build can import them it passes, and the
    marker must come off."""
    if "install_seconds" not in STATE:
        pytest.skip("the MSI did not install")
    code = "import agent.cli, agent.proxy.runner\nfrom agent.runtime import load_factories\nload_factories()\n"
    proc = wine.run(PYTHON, "-B", "-c", code, shims=True)
    assert proc.returncode == 0, proc.stderr[-1500:]


def test_service_prepares_the_machine_and_supervises_the_agent(wine: Wine) -> None:
    if "install_seconds" not in STATE:
        pytest.skip("the MSI did not install")
    # Wine tears services down when no other Wine process runs: one stays alive while we look.
    keep_alive = subprocess.Popen(
        ["wine", PYTHON, "-c", "import time; time.sleep(300)"],
        env=wine.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = time.monotonic()
        log = wine.drive_c(r"C:\ProgramData\PhiWall\service.log")
        while time.monotonic() - started < 180:
            if log.exists() and "supervising the agent" in log.read_text(errors="replace"):
                break
            time.sleep(1)
        STATE["service_seconds"] = time.monotonic() - started
        print(f"\nservice started by Wine and supervising the agent after {STATE['service_seconds']:.0f} s")
        assert log.exists(), "the service never wrote its log"
        text = log.read_text(errors="replace")
        assert "machine prepared" in text
        assert "supervising the agent" in text
        data = wine.drive_c(r"C:\ProgramData\PhiWall")
        cert = data / "ca" / "mitmproxy-ca-cert.pem"
        assert (data / "ca" / "mitmproxy-ca.pem").exists()
        config = (data / "config.toml").read_text()
        assert FLEET_URL in config
        assert REPOSITORY in config
        STATE["cert_pem"] = cert.read_bytes()
        report = _inspect(wine, cert, wait=False)
        assert report["ca_in_root_store"] is True
        assert report["pac_url"] == "http://127.0.0.1:8079/proxy.pac"
        assert report["per_user"] == 0
        assert report["winhttp_proxy"] == "127.0.0.1:8080"
        assert report["firefox_roots"] == 1
    finally:
        keep_alive.kill()
        keep_alive.wait()
        wine.wait()


def test_uninstall_leaves_nothing(wine: Wine, msi: Path, tmp_path: Path) -> None:
    if "install_seconds" not in STATE:
        pytest.skip("the MSI did not install")
    started = time.monotonic()
    log = tmp_path / "uninstall.log"
    proc = wine.run(
        "msiexec",
        "/x",
        "Z:" + str(msi).replace("/", "\\"),
        "/qn",
        "/l*v",
        "Z:" + str(log).replace("/", "\\"),
        timeout=600,
    )
    print(f"\nuninstalled in {time.monotonic() - started:.0f} s")
    # Wine truncates exit codes to a byte (1627 ERROR_FUNCTION_FAILED shows as 91): the log tells.
    detail = log.read_bytes().replace(b"\0", b"").decode(errors="replace") if log.exists() else proc.stderr
    assert proc.returncode == 0, "\n".join(line for line in detail.splitlines() if "Property(" not in line)[-4000:]
    for folder in (r"C:\Program Files\PhiWall", r"C:\ProgramData\PhiWall"):
        left = sorted(str(path) for path in wine.drive_c(folder).rglob("*"))
        assert not left, f"left in {folder}: {left[:8]}"
        assert not wine.drive_c(folder).exists()
    system_reg = (wine.prefix / "system.reg").read_text(errors="replace")
    assert "Services\\\\PhiWallAgent]" not in system_reg
    assert "[Software\\\\PhiWall]" not in system_reg
    assert "AutoConfigURL" not in system_reg
    assert "ImportEnterpriseRoots" not in system_reg
    pem = STATE.get("cert_pem")
    if isinstance(pem, bytes):  # the CA left the ROOT store: Wine keeps that store in the registry
        import hashlib

        from agent.platform.trust import pem_to_der

        thumbprint = hashlib.sha1(pem_to_der(pem)).hexdigest().upper()
        assert thumbprint not in system_reg
