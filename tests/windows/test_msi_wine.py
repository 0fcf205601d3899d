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
    proc = wine.run("msiexec", "/x", "Z:" + str(msi).replace("/", "\\"), "/qn", timeout=600)
    print(f"\nuninstalled in {time.monotonic() - started:.0f} s")
    assert proc.returncode == 0, proc.stderr[-2000:]
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
