"""This workstation's stable agent id, made once and kept in the data dir."""

from __future__ import annotations

import platform
import socket
import uuid
from pathlib import Path

from agent.config import Config
from agent.paths import ensure_writable_dir


def agent_id(config: Config) -> str:
    """`agent.id` from the config, else the id stored in `<data_dir>/agent-id` (created once)."""
    if config.agent.id:
        return config.agent.id
    data_dir = ensure_writable_dir(config.data_dir)
    id_file = data_dir / "agent-id"
    try:
        existing = id_file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    new = f"{socket.gethostname()[:40]}-{uuid.uuid4().hex[:12]}"
    tmp = id_file.with_suffix(".tmp")
    tmp.write_text(new + "\n", encoding="ascii")
    tmp.replace(id_file)
    return new


def host_facts() -> dict[str, str]:
    return {"hostname": socket.gethostname(), "os": f"{platform.system()} {platform.release()}"[:64]}


def ca_dir(data_dir: Path) -> Path:
    """Where the proxy's CA lives (mitmproxy confdir); the key file is 0600."""
    return data_dir / "ca"
