"""Running the agent as a system service on each platform.

- Linux: systemd (`installer/templates/phiwall-agent.service`), unchanged.
- Windows: a service (pywin32, `agent.platform.winservice`) whose host process prepares the
  machine (data dir ACL, CA in the ROOT store, proxy settings) and then supervises the agent
  child with the same `SupervisedProcess` back-off that the agent uses for its proxy: the
  service plays systemd's `Restart=always` role. The MSI registers it (`installer/windows`).
- macOS: a launchd daemon (`KeepAlive`), plist rendered here (written, untested).

`service_command` is the agent child's command line, shared by all three.
"""

from __future__ import annotations

import os
import plistlib
import sys
from pathlib import Path

from agent.platform import OsName, current

SERVICE_NAME = "PhiWallAgent"
LAUNCHD_LABEL = "org.phiwall.agent"
# Which agent command the service runs: the whole agent by default; `proxy` runs only the
# proxy runner (no media stack), for hosts where the media libraries cannot load.
SERVICE_MODES = {"agent": ["-m", "agent.cli", "run"], "proxy": ["-m", "agent.proxy"]}
"""`-m agent.proxy`, not `-m agent.proxy.runner`: the runner module has no `__main__` guard, so
the latter imported it and exited 0 at once (found under Wine)."""


def service_command(mode: str = "agent", python: str | None = None, config: Path | None = None) -> list[str]:
    """argv of the supervised agent child."""
    if mode not in SERVICE_MODES:
        raise ValueError(f"unknown service mode {mode!r} (one of {', '.join(SERVICE_MODES)})")
    argv = [python or sys.executable, *SERVICE_MODES[mode]]
    if config is not None:
        argv += ["--config", str(config)]
    return argv


def service_environment(data_dir: Path, config: Path) -> dict[str, str]:
    return {"PHIWALL_DATA_DIR": str(data_dir), "PHIWALL_CONFIG": str(config), "PYTHONUNBUFFERED": "1"}


def launchd_plist(python: str, data_dir: Path, config: Path, log_dir: Path, user: str = "_phiwall") -> bytes:
    """The launchd daemon definition (/Library/LaunchDaemons/org.phiwall.agent.plist)."""
    return plistlib.dumps(
        {
            "Label": LAUNCHD_LABEL,
            "ProgramArguments": service_command("agent", python),
            "EnvironmentVariables": service_environment(data_dir, config),
            "UserName": user,
            "RunAtLoad": True,
            "KeepAlive": True,
            "StandardErrorPath": str(log_dir / "agent.log"),
        }
    )


def service_mode_from_env(environ: dict[str, str] | None = None) -> str:
    """The Windows service reads its mode from `PHIWALL_SERVICE_MODE` (set by the MSI)."""
    env = os.environ if environ is None else environ
    return env.get("PHIWALL_SERVICE_MODE", "agent")


def supervisor_kind(os_name: OsName | None = None) -> str:
    return {"linux": "systemd", "windows": "windows-service", "macos": "launchd"}[os_name or current()]
