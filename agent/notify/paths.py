"""Where the agent's notification socket lives (the helper and the hub must agree)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SOCKET_ENV = "PHIWALL_NOTIFY_SOCKET"
SERVICE_RUNTIME_DIR = Path("/run/phiwall")  # systemd RuntimeDirectory= of phiwall-agent.service


def default_socket() -> Path:
    """`$PHIWALL_NOTIFY_SOCKET`, else the system service's, else the user's runtime dir."""
    explicit = os.environ.get(SOCKET_ENV)
    if explicit:
        return Path(explicit)
    if SERVICE_RUNTIME_DIR.is_dir():
        return SERVICE_RUNTIME_DIR / "notify.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "phiwall-notify.sock"
    return Path(tempfile.gettempdir()) / f"phiwall-notify-{os.getuid() if hasattr(os, 'getuid') else 'user'}.sock"
