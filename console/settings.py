"""How one console session is set up: store, identity, mode and clock."""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from agent.environment import environment

ANALYST_ENV = "PHIWALL_ANALYST"
_PASSWORD = re.compile(r"^(?P<head>[^:/]+://[^:/@]+):[^@]*@")


def analyst_name(explicit: str | None = None) -> str:
    """`--analyst`, else `$PHIWALL_ANALYST`, else the operating-system user."""
    for candidate in (explicit, environment().analyst):
        if candidate and candidate.strip():
            return candidate.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"


def store_label(url: str) -> str:
    """The store URL with its password hidden, as `agent.store.redact` writes it.

    Here without SQLAlchemy: the label is on the first frame, painted before it is imported.
    """
    return _PASSWORD.sub(r"\g<head>:***@", url)


def utcnow() -> datetime:
    """Aware UTC now (the store's own helper sits behind SQLAlchemy, not imported before first paint)."""
    return datetime.now(UTC)


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
    # Checks run in a worker once the first rows are shown (the full config validation
    # `phiwall console` leaves until then: pydantic is slow to import); a `PhiWallError`
    # from them ends the app with that error, which the command then reports.
    preflight: Callable[[], object] | None = None
    # The process is the console's own (`phiwall console`), so the app may tune Python's cyclic
    # garbage collector: once the first rows and the footer are drawn, everything alive then
    # (Textual, SQLAlchemy, the screens) is frozen out of its sight (`gc.freeze()`, as the
    # proxy does after loading), and from a filter's apply until its rows are drawn it is held
    # (as Textual holds it during smooth scrolls). A full collection stalled a filter's first
    # frame by 0.1 s. Off for apps embedded in another process (tests): frozen objects are
    # never collected.
    tune_garbage_collector: bool = False
