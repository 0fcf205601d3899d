"""install.sh --root into a temporary tree: the installed `phiwall` works, a re-run changes
nothing, and --uninstall leaves the tree as it found it (browser NSS database included)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from agent.updates.bundle import bundle_bytes
from agent.updates.source import SHIPPED_ROOT, build_bundle, read_manifest
from tests.integration.signatures.kit import make_repository
from tests.support.media import MediaFactory, require_tools

CHECKOUT = Path(__file__).resolve().parents[2]
INSTALL = CHECKOUT / "installer" / "install.sh"


def run_installer(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHIWALL_")}
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, env=env, timeout=600)


def tree_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def phiwall(root: Path, *args: str, config: Path) -> subprocess.CompletedProcess[str]:
    """The installed command. Its shebang names the final /opt/phiwall path, so the tree's own
    interpreter runs the installed script (which is what /opt/phiwall/venv/bin/phiwall is)."""
    venv = root / "opt" / "phiwall" / "venv" / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHIWALL_")}
    return subprocess.run(
        [str(venv / "python"), str(venv / "phiwall"), *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_cli_errors_are_clear() -> None:
    result = run_installer("--proxy", "nonsense")
    assert result.returncode != 0
    assert "--proxy must be IP:PORT" in result.stderr
    result = run_installer("--bogus")
    assert result.returncode != 0
    assert "unknown option --bogus" in result.stderr


def test_help_prints_the_usage_and_nothing_of_the_script() -> None:
    result = run_installer("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("PhiWall workstation installer")
    assert "--keep-data" in result.stdout
    assert "-h, --help" in result.stdout.splitlines()[-1]
    assert "set -euo" not in result.stdout
    assert "#" not in result.stdout


@pytest.mark.slow
def test_install_into_a_tree_then_use_it_then_uninstall(
    tmp_path: Path, wheelhouse: Path, media_factory: MediaFactory
) -> None:
    root = tmp_path / "root"
    # A user's Chromium NSS database, as it exists before PhiWall.
    nssdb = root / "home" / "alice" / ".pki" / "nssdb"
    has_certutil = shutil.which("certutil") is not None
    if has_certutil:
        nssdb.mkdir(parents=True)
        subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True)
    before = tree_files(root) if root.exists() else set()
    # The hospital's own signature repository (real keys, real TUF metadata) with one bundle.
    repo, ring = make_repository(tmp_path / "hospital-signatures")
    # The bundle the hospital's IT built from the shipped sources, as `phiwall-publish build` does.
    repo.publish(bundle_bytes(build_bundle(read_manifest(SHIPPED_ROOT), version="2026.4.1")), ring)
    options = ["--root", str(root), "--wheelhouse", str(wheelhouse), "--folder", "/srv/dictations"]
    options += ["--trusted-root", str(repo.metadata_dir / "1.root.json"), "--signatures-repo", str(repo.path)]

    result = run_installer(*options)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "installed the signed signature bundle" in result.stderr

    # Layout, permissions, final paths.
    ca_key = root / "var/lib/phiwall/ca/mitmproxy-ca.pem"
    assert mode(ca_key) == 0o600
    assert mode(ca_key.parent) == 0o700
    assert mode(root / "var/lib/phiwall") == 0o700, "the data dir is private (doctor fails on looser)"
    trusted = root / "usr/local/share/ca-certificates/phiwall-proxy-ca.crt"
    assert trusted.read_bytes() == (root / "var/lib/phiwall/ca/mitmproxy-ca-cert.pem").read_bytes()
    unit = (root / "etc/systemd/system/phiwall-agent.service").read_text()
    assert "ExecStart=/opt/phiwall/venv/bin/phiwall run" in unit
    assert "RestartPreventExitStatus=2 7" in unit, "a busy port (exit 7) is not restarted forever"
    assert str(root) not in unit
    assert (root / "opt/phiwall/venv/bin/phiwall").read_text().startswith("#!/opt/phiwall/venv/bin/python")
    assert "127.0.0.1:8079" in (root / "etc/systemd/system/phiwall-pac.socket").read_text()
    installed_config = (root / "etc/phiwall/config.toml").read_text()
    assert 'folders = ["/srv/dictations"]' in installed_config
    assert 'trusted_root = "/etc/phiwall/root.json"' in installed_config
    assert f'repository = "{repo.path}"' in installed_config
    assert (root / "etc/phiwall/root.json").read_bytes() == (repo.metadata_dir / "1.root.json").read_bytes()
    pac = (root / "etc/phiwall/proxy.pac").read_text()
    assert "from catalog 2026.4.1" in pac  # the PAC follows the installed signed catalog
    assert '"api.openai.com"' in pac
    assert "PROXY 127.0.0.1:8080" in pac
    chromium = json.loads((root / "etc/chromium/policies/managed/phiwall.json").read_text())
    assert chromium["ProxySettings"]["ProxyPacUrl"] == "http://127.0.0.1:8079/proxy.pac"
    autostart = (root / "etc/xdg/autostart/phiwall-notify.desktop").read_text()
    assert "Exec=/opt/phiwall/venv/bin/phiwall notify" in autostart
    assert "RuntimeDirectory=phiwall" in unit
    environment = (root / "etc/environment.d/90-phiwall-proxy.conf").read_text()
    assert "https_proxy=http://127.0.0.1:8080" in environment
    # Internal zones stay direct for command-line tools too (private ranges by default).
    assert "no_proxy=localhost,127.0.0.1,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16" in environment
    assert "10.0.0.0/8" in (root / "etc/profile.d/phiwall-proxy.sh").read_text()
    if has_certutil:
        listed = subprocess.run(["certutil", "-L", "-d", f"sql:{nssdb}"], capture_output=True, text=True).stdout
        assert "PhiWall proxy CA" in listed

    # The installed phiwall, on the tree's data dir (the config names final paths: map them).
    config = tmp_path / "config.toml"
    config.write_text(
        installed_config.replace('"/var/lib/phiwall"', f'"{root}/var/lib/phiwall"').replace(
            '"/etc/phiwall/', f'"{root}/etc/phiwall/'
        )
    )
    require_tools("espeak-ng")
    recording = media_factory.speech("Dictation for the installer test, patient seen in clinic today.")
    db = f"sqlite:///{root}/var/lib/phiwall/phiwall.db"
    enrolled = phiwall(root, "enroll", "--db", db, str(recording), config=config)
    assert enrolled.returncode == 0, enrolled.stderr
    doctor = phiwall(root, "doctor", "--json", config=config)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    findings = {f["name"]: f for f in json.loads(doctor.stdout)}
    assert findings["proxy CA"]["level"] == "ok"
    assert findings["store"]["level"] == "ok"
    assert findings["libchromaprint"]["level"] == "ok"
    assert "2026.4.1" in findings["catalog"]["detail"]
    matched = phiwall(root, "match", "--json", "--db", db, str(recording), config=config)
    assert matched.returncode == 0, matched.stderr
    assert json.loads(matched.stdout.splitlines()[0])["match"] is not None

    # Idempotent: a second run reinstalls nothing and keeps the CA.
    manifest = (root / "var/lib/phiwall/install-manifest").read_text()
    key_before = ca_key.read_bytes()
    again = run_installer(*options)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "installing phiwall" not in again.stderr
    assert ca_key.read_bytes() == key_before
    assert (root / "var/lib/phiwall/install-manifest").read_text() == manifest

    # Uninstall: everything the installer made is gone, what was there before is untouched.
    removed = run_installer("--root", str(root), "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert tree_files(root) == before
    if has_certutil:
        listed = subprocess.run(["certutil", "-L", "-d", f"sql:{nssdb}"], capture_output=True, text=True).stdout
        assert "PhiWall proxy CA" not in listed
