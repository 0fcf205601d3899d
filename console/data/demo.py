"""`phiwall console --demo`: a throwaway store that looks like a week in a real hospital.

A newcomer should see a realistic console in one command, without an agent, a proxy or any
patient data: the synthetic generator fills a private temporary SQLite store with a week of
events ending now (blocks and audits of enrolled recordings with the process, its parent and
command line, discoveries of unknown AI hosts, a fleet of ward workstations), then a few
analysts' triage actions give the detail screens a history. Nothing here is real: every name
is made up, and the store is deleted when the console closes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from agent.store import open_store, utcnow
from console.data import triage
from console.data.synthetic import SyntheticSpec, generate
from console.data.tables import EVENT
from console.data.triage import TriageRequest

DEMO_EVENTS = 20_000
DEMO_SPAN = timedelta(days=7)


def build_demo_store(directory: Path, *, events: int = DEMO_EVENTS, now: datetime | None = None) -> str:
    """Create `directory/demo.db` with `events` synthetic events ending at `now`; returns its URL."""
    if events < 100:
        raise ValueError("a demo needs at least 100 events")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    url = f"sqlite:///{directory / 'demo.db'}"
    end = (now or utcnow()) - timedelta(seconds=30)
    store = open_store(url)
    try:
        generate(store, SyntheticSpec(count=events, end=end, span=DEMO_SPAN, users=60, assets=300, agents=12))
        _triage_history(store.engine, end)
    finally:
        store.dispose()
    return url


def _triage_history(engine: object, end: datetime) -> None:
    """A plausible morning of triage on the oldest open blocks (so details have a trail)."""
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    with engine.connect() as conn:
        blocks = [
            r.id
            for r in conn.execute(
                select(EVENT.c.id)
                .where(EVENT.c.verdict == "block", EVENT.c.triage_state == "new")
                .order_by(EVENT.c.time.asc())
                .limit(12)
            ).all()
        ]
    if len(blocks) < 12:
        return
    at = iter(end - timedelta(hours=h) for h in range(40, 0, -1))

    def clock() -> datetime:
        return next(at)

    steps: list[tuple[list[str], TriageRequest]] = [
        (blocks[:8], TriageRequest("acknowledge", "j.doe")),
        (blocks[:3], TriageRequest("note", "j.doe", note="Dictation app on a ward PC; asked the ward manager.")),
        (blocks[:2], TriageRequest("close", "j.doe", classification="true_positive", note="Clinician reminded.")),
        ([blocks[2]], TriageRequest("close", "a.smith", classification="false_positive", note="Test recording.")),
        (blocks[3:5], TriageRequest("start", "a.smith")),
        ([blocks[5]], TriageRequest("escalate", "a.smith", note="Repeated uploads to an unapproved scribe.")),
    ]
    for ids, request in steps:
        triage.apply(engine, ids, request, clock=clock)
