"""What `phiwall run` is made of: components with start/stop/health, and their context.

Each capability (proxy, watcher, signature updates, shadow-AI inventory, fleet forwarding)
provides a `build(context)` factory returning a `Component`, or None when it is not
configured. The runtime owns their life cycle and folds their health into heartbeats.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from agent.config import Config
from agent.store import EventWriter, Store

HealthStatus = Literal["ok", "degraded", "down"]


@dataclass(frozen=True)
class Health:
    status: HealthStatus
    message: str = ""


@dataclass
class AgentContext:
    """Everything a component may use; built once by the runtime."""

    config: Config
    store: Store
    agent_id: str
    data_dir: Path
    listen: str
    events: EventWriter
    stopping: threading.Event = field(default_factory=threading.Event)


class Component(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def health(self) -> Health: ...
