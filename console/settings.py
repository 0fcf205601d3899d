"""How one console session is set up: store, identity, mode and clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from agent.store.types import utcnow


@dataclass(frozen=True)
class ConsoleSettings:
    """Everything the app needs from the command line; tests pin the clock and time zone.

    `tz=None` shows times in the machine's local zone. `poll_interval` is how often the
    incidents feed looks for new events (the issue asks for new events within 2 s).
    """

    url: str
    analyst: str
    read_only: bool = False
    poll_interval: float = 1.0
    tz: tzinfo | None = None
    clock: Callable[[], datetime] = utcnow
    keymap: dict[str, str] = field(default_factory=dict)
    # The local agent's data dir: where approve/block on the Services screen writes the local
    # policy overlay (agent.policy.local). None: those actions are not offered.
    agent_data_dir: Path | None = None
    live: bool = True
