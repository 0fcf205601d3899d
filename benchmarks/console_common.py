"""Shared parts of the console benchmarks (`console_scale.py`, `console_words_postgres.py`):
the pinned "now" their synthetic stores end at, and a best-of-three timer."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def best_ms(action: Any, runs: int = 3) -> float:
    """The fastest of `runs` calls of `action()` (often a lambda binding its loop variable as a
    default), in ms: the others paid for cold caches."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)
