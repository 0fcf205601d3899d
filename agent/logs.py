"""Logging that cannot carry payloads.

The rule is: log hashes, sizes, verdicts, reasons; never bodies, media or transcripts. Code
follows it by convention; `PayloadGuard` backs it up by replacing any bytes-like argument
with its length and clipping very long strings, which is where payloads would hide.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from agent.environment import environment

MAX_LOGGED_STRING = 400


def _scrub(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes withheld>"
    if isinstance(value, str) and len(value) > MAX_LOGGED_STRING:
        return f"{value[:120]}...<{len(value)} chars clipped>"
    return value


class PayloadGuard(logging.Filter):
    """Withhold bytes and clip long strings in every record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _scrub(record.msg)
        if isinstance(record.args, dict):
            record.args = {key: _scrub(val) for key, val in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_scrub(arg) for arg in record.args)
        return True


def setup_logging(level: str | int | None = None) -> None:
    """Configure the root logger once: stderr (journald under systemd), guarded."""
    level = level or environment().log_level
    root = logging.getLogger()
    if any(isinstance(f, PayloadGuard) for h in root.handlers for f in h.filters):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PayloadGuard())
    root.addHandler(handler)
    root.setLevel(level)
    # alembic announces every plugin and step at INFO, in each process that opens the store;
    # agent.store.migrate logs one line when a migration really happens.
    for noisy in ("sqlalchemy.engine", "alembic", "watchdog", "PIL", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
