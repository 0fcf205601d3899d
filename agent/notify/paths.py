"""Where the agent's notification socket lives (the helper and the hub must agree).

The system service listens on `/run/phiwall/notify.sock` (its systemd RuntimeDirectory). An
agent a user runs themself listens on a Linux abstract socket named after its data dir, so
the helper finds it from the same config, with no path-length limit and no file to clean up.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from agent.environment import environment

SOCKET_ENV = "PHIWALL_NOTIFY_SOCKET"
SERVICE_RUNTIME_DIR = Path("/run/phiwall")  # systemd RuntimeDirectory= of phiwall-agent.service


def default_socket(data_dir: Path) -> str:
    """`$PHIWALL_NOTIFY_SOCKET`, else the system service's socket, else an abstract socket."""
    explicit = environment().notify_socket
    if explicit:
        return explicit
    if SERVICE_RUNTIME_DIR.is_dir():
        return str(SERVICE_RUNTIME_DIR / "notify.sock")
    digest = hashlib.sha256(str(data_dir.expanduser().resolve()).encode()).hexdigest()[:16]
    return f"\0phiwall-notify-{digest}"


def is_abstract(address: str) -> bool:
    return address.startswith("\0")
