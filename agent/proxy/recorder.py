"""Decisions to event rows, written without blocking the loop.

The event id is chosen when the decision is made, so the block answer can carry it in
`X-PhiWall-Incident` at once; the row itself is completed (process attribution) and queued
to the `EventWriter` in the background. Rows hold hashes, sizes, types, verdicts and reasons,
never payload bytes: `make_event` refuses bytes, and details are plain counters and labels.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from agent.proxy.attribution import ClientRef, ProcessAttribution, ProcessInfo
from agent.store.events import EventWriter, make_event
from agent.store.models import new_id

log = logging.getLogger(__name__)


@dataclass
class EventDraft:
    """An event being decided; `id` is final from the start."""

    kind: str
    verdict: str
    reason: str
    id: str = field(default_factory=new_id)
    host: str | None = None
    path: str | None = None
    method: str | None = None
    service_id: str | None = None
    service_category: str | None = None
    asset_id: str | None = None
    match_score: float | None = None
    match_kind: str | None = None
    match_offset_s: float | None = None
    payload_size: int | None = None
    sniffed_types: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class EventRecorder:
    def __init__(
        self,
        writer: EventWriter,
        attribution: ProcessAttribution,
        *,
        agent_id: str,
        catalog_version: str = "",
    ) -> None:
        self.writer = writer
        self.attribution = attribution
        self.agent_id = agent_id
        self.catalog_version = catalog_version
        self._tasks: set[asyncio.Task[None]] = set()
        self.recorded = 0

    def record(self, draft: EventDraft, client: ClientRef | None) -> str:
        """Queue `draft` for writing once its process is known; returns the event id at once."""
        task = asyncio.get_running_loop().create_task(self._complete(draft, client))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return draft.id

    async def _complete(self, draft: EventDraft, client: ClientRef | None) -> None:
        process = ProcessInfo()
        if client is not None:
            process = await self.attribution.lookup(client.connection_id, client.client_port, client.proxy_port)
        try:
            event = make_event(
                id=draft.id,
                agent_id=self.agent_id,
                kind=draft.kind,
                user=process.user,
                pid=process.pid,
                process_name=process.name,
                process_exe=process.exe,
                host=draft.host,
                path=draft.path,
                method=draft.method,
                service_id=draft.service_id,
                service_category=draft.service_category,
                verdict=draft.verdict,
                reason=draft.reason[:2000],
                asset_id=draft.asset_id,
                match_score=draft.match_score,
                match_kind=draft.match_kind,
                match_offset_s=draft.match_offset_s,
                payload_size=draft.payload_size,
                sniffed_types=",".join(draft.sniffed_types)[:1000] or None,
                catalog_version=self.catalog_version or None,
                details={**draft.details, **_lineage_details(process)},
            )
        except (TypeError, ValueError) as exc:
            log.error("event %s could not be built: %s", draft.id, exc)
            return
        if self.writer.submit(event):
            self.recorded += 1
        if draft.verdict == "block":
            log_block(draft, process)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for pending attributions (shutdown, tests)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)


def log_block(draft: EventDraft, process: ProcessInfo) -> None:
    """The one journal line per block, for operators (`journalctl -u phiwall-agent | grep blocked`).

    Ids, the destination and the reason only: no file path, no payload, no transcript (the
    reason names the match kind and score, never the enrolled file).
    """
    log.warning(
        "blocked %s: incident %s, service %s, host %s, user %s, process %s: %s",
        draft.kind,
        draft.id,
        draft.service_id or "(not in the catalog)",
        draft.host,
        process.user or "?",
        process.name or "?",
        draft.reason,
    )


def _lineage_details(process: ProcessInfo) -> dict[str, Any]:
    """Parent process and command line for the analyst (only what attribution could read)."""
    found: dict[str, Any] = {}
    if process.parent_pid is not None:
        found["parent_pid"] = process.parent_pid
    if process.parent_name:
        found["parent_name"] = process.parent_name
    if process.cmdline:
        found["cmdline"] = process.cmdline
    return found
