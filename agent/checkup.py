"""What a `phiwall doctor` check is, and the register of checks the capabilities contribute.

Checks register like components (`agent.runtime.COMPONENT_FACTORIES`): by "module:function"
name, imported only when the doctor runs. So a capability's doctor (`agent/fleet/doctor.py`,
...) imports these types from here, and nothing here imports the capabilities: no circle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from agent.config import Config

Level = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Finding:
    name: str
    level: Level
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class DoctorContext:
    config: Config
    store_url: str
    listen: str | None = None
    """`--listen`: the proxy address `phiwall run --listen` was given (else the config's)."""

    @property
    def proxy_address(self) -> tuple[str, int]:
        """The address `phiwall run` listens on with the same config and `--listen`."""
        from agent.config import ProxySection

        section = ProxySection(listen=self.listen) if self.listen else self.config.proxy
        return section.listen_host, section.listen_port


Check = Callable[[DoctorContext], Finding]

# Checks in display order: the agent's own (agent/doctor.py), then each capability's.
CHECK_TARGETS: list[str] = [
    "agent.doctor:check_python",
    "agent.doctor:check_libmagic",
    "agent.doctor:check_chromaprint",
    "agent.doctor:check_pyav",
    "agent.doctor:check_data_dir",
    "agent.doctor:check_store",
    "agent.doctor:check_ca",
    "agent.doctor:check_agent_running",
    "agent.doctor:check_heartbeat",
    "agent.updates.doctor:check_catalog",
    "agent.updates.doctor:check_signature_updates",
    "agent.fleet.doctor:check_fleet",
    "agent.siem.doctor:check_siem",
    "agent.shadow.doctor:check_shadow",
]


def load_checks() -> list[Check]:
    """Import every registered check, in display order."""
    checks: list[Check] = []
    for target in CHECK_TARGETS:
        module_name, attribute = target.split(":")
        checks.append(getattr(importlib.import_module(module_name), attribute))
    return checks
