"""The PhiWall Windows service (pywin32), registered by the MSI as `python.exe -m agent.platform.winservice`.

On start it prepares the machine, then supervises the agent child:
1. the data dir (`%ProgramData%\\PhiWall`) gets a protected DACL: SYSTEM and Administrators only;
2. the proxy CA is made there on first start (never shipped) and added to LocalMachine\\ROOT
   (and Firefox told to import enterprise roots);
3. the machine proxy settings point at the local PAC (WinINet) and proxy (WinHTTP);
4. the agent (`service_command`) runs under `SupervisedProcess`, restarted with back-off.
Stop ends the child. `--cleanup` undoes 2 and 3 and removes the data dir (the MSI runs it
on uninstall, before it removes its own files).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

from agent.environment import environment
from agent.platform.datadir import restrict_to_admins, system_data_dir, windows_temp_dir
from agent.platform.proxy_settings import apply_proxy_settings, clear_proxy_settings
from agent.platform.registry import HKLM, Registry, WinRegistry
from agent.platform.service import SERVICE_NAME, service_command, service_environment, service_mode_from_env
from agent.platform.trust import trust_ca, untrust_ca

log = logging.getLogger("phiwall.service")

SETTINGS_KEY = r"SOFTWARE\PhiWall"  # written by the MSI from its silent-install properties
# Registry value -> environment variable the service passes on to the agent.
SETTINGS_ENV = {
    "DataDir": "PHIWALL_DATA_DIR",
    "ServiceMode": "PHIWALL_SERVICE_MODE",
    "FleetUrl": "PHIWALL_FLEET_URL",
    "SignatureRepository": "PHIWALL_SIGNATURE_REPOSITORY",
    "CommonAppData": "PHIWALL_COMMON_APPDATA",
}
SERVICE_KEY = rf"SYSTEM\CurrentControlSet\Services\{SERVICE_NAME}"
DEFAULT_PAC_URL = "http://127.0.0.1:8079/proxy.pac"
DEFAULT_PROXY = "127.0.0.1:8080"


def load_msi_settings(registry: Registry | None = None, environ: dict[str, str] | None = None) -> None:
    """Copy the MSI's settings (HKLM\\SOFTWARE\\PhiWall) into the environment; set ones win."""
    reg = registry or WinRegistry()
    env = os.environ if environ is None else environ
    for name, variable in SETTINGS_ENV.items():
        value = reg.get(HKLM, SETTINGS_KEY, name)
        if isinstance(value, str) and value and variable not in env:
            env[variable] = value


def initial_config(fleet_url: str | None, repository: str | None) -> str:
    """config.toml written on first start from the silent-install properties (an admin may edit it)."""
    lines = ["# Written by the PhiWall service on first start from the MSI's properties.", ""]
    if fleet_url:
        lines += ["[store]", f"fleet_url = {json.dumps(fleet_url)}", ""]
    if repository:
        lines += ["[signatures]", f"repository = {json.dumps(repository)}", ""]
    return "\n".join(lines)


def data_dir() -> Path:
    """`PHIWALL_DATA_DIR` (the MSI's DATADIR), else PhiWall under the MSI's CommonAppDataFolder.

    The MSI's folder is used rather than `%ProgramData%`: a service's environment need not
    carry that variable (under Wine it names C:\\users\\Public there).
    """
    env = environment()
    if env.data_dir:
        return env.data_dir
    return env.common_appdata / "PhiWall" if env.common_appdata else system_data_dir()


def quote_image_path(registry: Registry | None = None, python: str | None = None) -> str:
    """Give the service a quoted command line (wixl writes it unquoted; a path with spaces
    unquoted is the classic "unquoted service path" weakness). Run by the MSI after InstallServices."""
    image = f'"{python or sys.executable}" -B -m agent.platform.winservice'
    (registry or WinRegistry()).set_string(HKLM, SERVICE_KEY, "ImagePath", image)
    return image


def prepare_machine(directory: Path) -> Path:
    """Steps 1-3 above; returns the CA certificate path. Idempotent (runs on every start)."""
    env = environment()
    directory.mkdir(parents=True, exist_ok=True)
    restrict_to_admins(directory)
    from agent.proxy.ca import ensure_ca  # mitmproxy: imported only when the service runs

    cert = ensure_ca(directory / "ca")
    config = directory / "config.toml"
    if not config.exists():
        config.write_text(initial_config(env.fleet_url, env.signature_repository))
    trust_ca(cert)
    apply_proxy_settings(env.pac_url or DEFAULT_PAC_URL, env.proxy or DEFAULT_PROXY)
    return cert


def stop_service() -> None:
    """Stop the service (uninstall runs before the MSI's own StopServices takes effect)."""
    started = time.monotonic()
    try:
        win32serviceutil: Any = importlib.import_module("win32serviceutil")
        win32serviceutil.StopService(SERVICE_NAME)
        win32serviceutil.WaitForServiceStatus(SERVICE_NAME, 1, 30)  # SERVICE_STOPPED
        log.info("service stopped in %.1f s", time.monotonic() - started)
    except Exception as exc:  # not installed, not running, or pywin32 absent
        log.info("service not stopped after %.1f s: %s", time.monotonic() - started, exc)


def cleanup_machine(directory: Path) -> None:
    """Uninstall: remove the CA from the trust store, the proxy settings, then the data dir."""
    cert = directory / "ca" / "mitmproxy-ca-cert.pem"
    if cert.exists():
        try:
            untrust_ca(cert)
        except OSError as exc:
            log.warning("could not remove the CA from the ROOT store: %s", exc)
    clear_proxy_settings()
    shutil.rmtree(directory, ignore_errors=True)
    left = sum(1 for _ in directory.rglob("*")) if directory.exists() else 0
    log.info("data dir %s removed%s", directory, f" except {left} entries (in use?)" if left else "")


def uninstall_log() -> Path:
    """Where `--cleanup` logs: the system temp folder, outside everything the uninstall removes,
    so a failed uninstall leaves its account (the MSI's own log holds only the client side)."""
    return windows_temp_dir() / "phiwall-uninstall.log"


def _setup_logging(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(directory / "service.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def run_until(stop: threading.Event) -> None:
    """Prepare the machine, supervise the agent child until `stop` is set."""
    from agent.supervise import SupervisedProcess

    directory = data_dir()
    _setup_logging(directory)
    try:
        prepare_machine(directory)
        log.info("machine prepared (data dir %s)", directory)
    except Exception:
        log.exception("preparing the machine failed; the agent starts anyway and doctor reports it")
    config = environment().config or directory / "config.toml"
    mode = service_mode_from_env()
    # Byte-code goes to the data dir, never next to the installed files: uninstall removes
    # only the files it installed, and the data dir goes with `--cleanup`.
    env = {**service_environment(directory, config), "PYTHONPYCACHEPREFIX": str(directory / "pycache")}
    child = SupervisedProcess("agent", service_command(mode), env=env, max_backoff=60.0)
    child.start()
    log.info("supervising the agent (%s mode)", mode)
    stop.wait()
    stop_with_descendants(child)
    log.info("stopped")


def stop_with_descendants(child: Any, timeout: float = 10.0) -> None:
    """Stop the supervised agent and whatever it started (its proxy process).

    Windows has no process groups that die with their parent: terminating `agent.cli run`
    left its proxy child running and holding the data dir (seen under Wine at uninstall)."""
    import psutil

    pid = child.pid
    try:
        descendants = psutil.Process(pid).children(recursive=True) if pid is not None else []
    except psutil.Error:
        descendants = []
    child.stop(timeout)
    for process in descendants:
        try:
            process.kill()
        except psutil.Error:
            continue  # already gone
    psutil.wait_procs(descendants, timeout=timeout)


def _service_class() -> type:
    win32service: Any = importlib.import_module("win32service")
    win32serviceutil: Any = importlib.import_module("win32serviceutil")

    class PhiWallService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = "PhiWall endpoint agent"
        _svc_description_ = "Blocks uploads of clinical recordings to unapproved AI services."

        def __init__(self, args: list[str]) -> None:
            super().__init__(args)
            self._stop = threading.Event()

        def SvcStop(self) -> None:
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
            self._stop.set()

        def SvcDoRun(self) -> None:
            # The service logs to service.log in the data dir (readable by administrators only).
            self.ReportServiceStatus(win32service.SERVICE_RUNNING)
            run_until(self._stop)

    return PhiWallService


def main(argv: list[str]) -> int:
    load_msi_settings()
    if argv[1:2] == ["--cleanup"]:
        try:
            handler = logging.FileHandler(uninstall_log(), encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
        except OSError:
            pass  # no log is no reason to leave the machine configured
        log.info("uninstall clean-up started")
        stop_service()
        cleanup_machine(data_dir())
        return 0
    if argv[1:2] == ["--quote-image-path"]:
        quote_image_path()
        return 0
    if argv[1:2] == ["--prepare"]:
        print(prepare_machine(data_dir()))
        return 0
    servicemanager: Any = importlib.import_module("servicemanager")
    servicemanager.Initialize()
    servicemanager.PrepareToHostSingle(_service_class())
    servicemanager.StartServiceCtrlDispatcher()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
