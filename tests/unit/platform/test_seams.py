"""The platform seams: Linux behaviour for real, Windows and macOS paths through fakes of the OS.

What runs for real here: POSIX modes, a real proxy CA made by mitmproxy, plist and WinHTTP blob
encoding. What is faked: the registry, the crypt32 ROOT store, the Windows ACL API and the
macOS commands (`security`, `networksetup`); the Wine tests (tests/windows) exercise the real
registry and crypt32 under Wine.
"""

from __future__ import annotations

import plistlib
import stat
import struct
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from agent.platform import datadir, local_apps, proxy_settings, service, trust
from agent.platform.registry import HKLM, FakeRegistry
from agent.proxy.ca import ensure_ca


class FakeRootStore:
    def __init__(self) -> None:
        self.certs: list[bytes] = []

    def add(self, der: bytes) -> None:
        if der not in self.certs:
            self.certs.append(der)

    def remove(self, der: bytes) -> bool:
        if der in self.certs:
            self.certs.remove(der)
            return True
        return False

    def contains(self, der: bytes) -> bool:
        return der in self.certs


class FakeAcl:
    def __init__(self) -> None:
        self.dacls: dict[str, set[str]] = {}

    def set_protected_dacl(self, path: str, sids: tuple[str, ...]) -> None:
        self.dacls[path] = set(sids)

    def dacl_sids(self, path: str) -> set[str]:
        return self.dacls.get(path, {"S-1-5-32-545"})  # inherited: BUILTIN\Users


class Recorder:
    def __init__(self, output: str = "") -> None:
        self.calls: list[list[str]] = []
        self.output = output

    def __call__(self, argv: Sequence[str]) -> str:
        self.calls.append(list(argv))
        return self.output


@pytest.fixture(scope="module")
def ca_cert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_ca(tmp_path_factory.mktemp("ca"))


def test_system_data_dir_per_platform() -> None:
    env = {"ProgramData": r"D:\PD"}
    assert str(datadir.system_data_dir("windows", env)).replace("/", "\\").endswith(r"D:\PD\PhiWall")
    assert datadir.system_data_dir("macos", {}) == Path("/Library/Application Support/PhiWall")
    assert datadir.system_data_dir("linux", {}) == Path("/var/lib/phiwall")


def test_uninstall_log_lives_in_the_system_temp_folder() -> None:
    """Outside the install and data folders, which the uninstall removes."""
    assert str(datadir.windows_temp_dir({"SYSTEMROOT": r"D:\Win"})).replace("/", "\\") == r"D:\Win\Temp"
    assert str(datadir.windows_temp_dir({})).replace("/", "\\") == r"C:\Windows\Temp"


def test_linux_restrict_sets_mode_0700_and_foreign_readers_sees_looser(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.mkdir(mode=0o755)
    assert datadir.foreign_readers(target, "linux") == {"group/other"}
    datadir.restrict_to_admins(target, "linux")
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert datadir.foreign_readers(target, "linux") == set()


def test_windows_restrict_grants_system_and_administrators_only(tmp_path: Path) -> None:
    acl = FakeAcl()
    assert datadir.foreign_readers(tmp_path, "windows", acl) == {"S-1-5-32-545"}
    datadir.restrict_to_admins(tmp_path, "windows", acl)
    assert acl.dacls[str(tmp_path)] == {datadir.SYSTEM_SID, datadir.ADMINISTRATORS_SID}
    assert datadir.foreign_readers(tmp_path, "windows", acl) == set()


def test_pem_to_der_matches_the_real_ca(ca_cert: Path) -> None:
    der = trust.pem_to_der(ca_cert.read_bytes())
    assert der == x509.load_pem_x509_certificate(ca_cert.read_bytes()).public_bytes(Encoding.DER)
    with pytest.raises(ValueError, match="no PEM certificate"):
        trust.pem_to_der(b"not a certificate")


def test_windows_trust_adds_to_root_store_and_firefox_policy_then_removes(ca_cert: Path) -> None:
    store, reg = FakeRootStore(), FakeRegistry()
    assert trust.trust_ca(ca_cert, "windows", store=store, registry=reg)
    der = trust.pem_to_der(ca_cert.read_bytes())
    assert store.contains(der)
    assert reg.get(HKLM, trust.FIREFOX_POLICY_KEY, "ImportEnterpriseRoots") == 1
    trust.trust_ca(ca_cert, "windows", store=store, registry=reg)  # idempotent
    assert store.certs == [der]
    assert trust.untrust_ca(ca_cert, "windows", store=store, registry=reg)
    assert store.certs == []
    assert reg.values == {}
    assert not trust.untrust_ca(ca_cert, "windows", store=store, registry=reg)


def test_macos_trust_uses_the_system_keychain(ca_cert: Path) -> None:
    run = Recorder()
    trust.trust_ca(ca_cert, "macos", run=run)
    trust.untrust_ca(ca_cert, "macos", run=run)
    assert run.calls[0][:6] == ["security", "add-trusted-cert", "-d", "-r", "trustRoot", "-k"]
    assert run.calls[0][6:] == [trust.MACOS_KEYCHAIN, str(ca_cert)]
    assert run.calls[1] == ["security", "remove-trusted-cert", "-d", str(ca_cert)]


def test_linux_trust_is_left_to_the_installer(ca_cert: Path) -> None:
    run = Recorder()
    assert not trust.trust_ca(ca_cert, "linux", run=run)
    assert run.calls == []


def test_winhttp_blob_round_trips_and_matches_netsh_layout() -> None:
    blob = proxy_settings.winhttp_blob("127.0.0.1:8080")
    assert struct.unpack_from("<III", blob) == (0x18, 0, 3)
    assert proxy_settings.parse_winhttp_blob(blob) == ("127.0.0.1:8080", proxy_settings.WINHTTP_BYPASS)
    direct = proxy_settings.winhttp_blob(None)
    assert len(direct) == 20
    assert proxy_settings.parse_winhttp_blob(direct) == (None, "")


def test_windows_proxy_settings_are_machine_wide_and_cleared_on_uninstall() -> None:
    reg = FakeRegistry()
    pac = "http://127.0.0.1:8079/proxy.pac"
    assert proxy_settings.apply_proxy_settings(pac, "127.0.0.1:8080", "windows", registry=reg)
    assert reg.get(HKLM, proxy_settings.INTERNET_SETTINGS, "AutoConfigURL") == pac
    assert reg.get(HKLM, proxy_settings.INTERNET_SETTINGS_POLICY, "ProxySettingsPerUser") == 0
    blob = reg.get(HKLM, proxy_settings.WINHTTP_KEY, proxy_settings.WINHTTP_VALUE)
    assert isinstance(blob, bytes)
    assert proxy_settings.parse_winhttp_blob(blob)[0] == "127.0.0.1:8080"
    proxy_settings.clear_proxy_settings("windows", registry=reg)
    assert reg.get(HKLM, proxy_settings.INTERNET_SETTINGS, "AutoConfigURL") is None
    assert reg.get(HKLM, proxy_settings.INTERNET_SETTINGS_POLICY, "ProxySettingsPerUser") is None
    blob = reg.get(HKLM, proxy_settings.WINHTTP_KEY, proxy_settings.WINHTTP_VALUE)
    assert isinstance(blob, bytes)
    assert proxy_settings.parse_winhttp_blob(blob)[0] is None


def test_macos_proxy_settings_cover_every_network_service() -> None:
    run = Recorder("An asterisk (*) denotes that a network service is disabled.\nWi-Fi\n*Thunderbolt Bridge\n")
    proxy_settings.apply_proxy_settings("http://127.0.0.1:8079/proxy.pac", "127.0.0.1:8080", "macos", run=run)
    set_calls = [call for call in run.calls if call[1] == "-setautoproxyurl"]
    assert [call[2] for call in set_calls] == ["Wi-Fi", "Thunderbolt Bridge"]


def test_linux_proxy_settings_are_left_to_the_installer() -> None:
    run = Recorder()
    assert not proxy_settings.apply_proxy_settings("http://x/p.pac", "127.0.0.1:8080", "linux", run=run)
    assert not proxy_settings.clear_proxy_settings("linux", run=run)
    assert run.calls == []


def test_service_command_modes() -> None:
    assert service.service_command("agent", "py.exe") == ["py.exe", "-m", "agent.cli", "run"]
    assert service.service_command("proxy", "py.exe", Path("c.toml")) == [
        "py.exe",
        "-m",
        "agent.proxy",
        "--config",
        "c.toml",
    ]
    with pytest.raises(ValueError, match="unknown service mode"):
        service.service_command("media")


@pytest.mark.parametrize("mode", ["agent", "proxy"])
def test_each_service_mode_runs_its_program(mode: str) -> None:
    """The supervised command really starts a program (a module without a `__main__` guard
    would import and exit 0, printing nothing)."""
    import subprocess
    import sys

    argv = service.service_command(mode, sys.executable)
    proc = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert "Usage" in proc.stdout
    assert service.service_mode_from_env({"PHIWALL_SERVICE_MODE": "proxy"}) == "proxy"
    assert service.service_mode_from_env({}) == "agent"


def test_launchd_plist_keeps_the_agent_alive(tmp_path: Path) -> None:
    data = plistlib.loads(
        service.launchd_plist("/opt/phiwall/venv/bin/python", tmp_path / "d", tmp_path / "c.toml", tmp_path / "logs")
    )
    assert data["Label"] == service.LAUNCHD_LABEL
    assert data["KeepAlive"] is True
    assert data["RunAtLoad"] is True
    assert data["ProgramArguments"][1:] == ["-m", "agent.cli", "run"]
    assert data["EnvironmentVariables"]["PHIWALL_DATA_DIR"] == str(tmp_path / "d")
    assert service.supervisor_kind("macos") == "launchd"


def test_windows_local_app_locations_expand_the_users_folders() -> None:
    env = {"LOCALAPPDATA": r"C:\Users\dr\AppData\Local", "PROGRAMFILES": r"C:\Program Files"}
    found = local_apps.install_locations("windows", env)
    assert r"C:\Users\dr\AppData\Local\Programs\Ollama" in found
    assert r"C:\Program Files\LM Studio" in found
    assert not any("%" in path for path in found)
    assert "/Applications/Ollama.app" in local_apps.install_locations("macos", {"HOME": "/Users/dr"})
    assert "/home/dr/.ollama" in local_apps.install_locations("linux", {"HOME": "/home/dr"})


def test_windows_exe_paths_are_normalised_like_catalog_globs() -> None:
    import fnmatch

    exe = local_apps.normalise_exe("C:/Users/Dr/AppData/Local/Programs/Ollama/ollama app.exe", "windows")
    assert exe == r"c:\users\dr\appdata\local\programs\ollama\ollama app.exe"
    assert fnmatch.fnmatchcase(exe, "*\\ollama\\ollama*.exe")


def test_service_prepare_then_cleanup_on_linux(tmp_path: Path) -> None:
    from agent.platform import winservice

    directory = tmp_path / "PhiWall"
    cert = winservice.prepare_machine(directory)
    assert cert.exists()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert winservice.prepare_machine(directory) == cert  # every start: same CA, not a new one
    winservice.cleanup_machine(directory)
    assert not directory.exists()


def test_msi_settings_reach_the_environment_and_the_first_config() -> None:
    import tomllib

    from agent.platform import winservice

    reg = FakeRegistry()
    reg.set_string(HKLM, winservice.SETTINGS_KEY, "FleetUrl", "postgresql+psycopg://phiwall@fleet/phiwall")
    reg.set_string(HKLM, winservice.SETTINGS_KEY, "ServiceMode", "proxy")
    env = {"PHIWALL_SERVICE_MODE": "agent"}
    winservice.load_msi_settings(reg, env)
    assert env["PHIWALL_FLEET_URL"] == "postgresql+psycopg://phiwall@fleet/phiwall"
    assert env["PHIWALL_SERVICE_MODE"] == "agent"  # set explicitly: kept
    parsed = tomllib.loads(winservice.initial_config(env["PHIWALL_FLEET_URL"], 'https://u.example/"repo"'))
    assert parsed["store"]["fleet_url"] == env["PHIWALL_FLEET_URL"]
    assert parsed["signatures"]["repository"] == 'https://u.example/"repo"'


def test_service_image_path_is_quoted() -> None:
    from agent.platform import winservice

    reg = FakeRegistry()
    python = r"C:\Program Files\PhiWall\python\python.exe"
    winservice.quote_image_path(reg, python)
    image = reg.get(HKLM, winservice.SERVICE_KEY, "ImagePath")
    assert image == f'"{python}" -B -m agent.platform.winservice'


def test_stopping_the_service_child_also_stops_what_it_started(tmp_path: Path) -> None:
    """A real process tree: the supervised child starts a grandchild (as `agent.cli run` starts
    its proxy); stopping the service leaves neither running."""
    import sys
    import time

    import psutil

    from agent.platform.winservice import stop_with_descendants
    from agent.supervise import SupervisedProcess

    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True); "
        f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(600)"
    )
    child = SupervisedProcess("agent", [sys.executable, "-c", code], env={}, max_backoff=60.0)
    child.start()
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    grandchild = psutil.Process(int(pid_file.read_text()))
    stop_with_descendants(child)
    assert child.pid is None
    _gone, alive = psutil.wait_procs([grandchild], timeout=10)
    assert not alive, "the grandchild outlived the service"
