"""Everything the proxy addon works with, built once per proxy process.

The proxy child opens the store itself, builds its own `MediaService` (its in-memory index of
enrolled prints), loads the signatures in force, and writes events through its own
`EventWriter`. A maintenance task refreshes the media index (assets the watcher or the CLI
enrolled meanwhile) and hot-reloads signatures, and writes a small status file the supervising
agent reads for its heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from agent.identity import agent_id
from agent.media.sniff import looks_like_media
from agent.payload.sniff import guarded
from agent.payload.types import ExtractLimits
from agent.proxy.attribution import ProcessAttribution
from agent.proxy.discovery import ShadowDiscovery
from agent.proxy.inspect import Inspector, MediaMatcher
from agent.proxy.pieces import PieceJoiner
from agent.proxy.recorder import EventRecorder
from agent.proxy.resumable import SessionTable
from agent.proxy.routing import Router
from agent.proxy.settings import ProxySettings
from agent.proxy.sink import DrainSink
from agent.store import Store, open_store
from agent.store.events import EventWriter
from agent.updates.active import ActiveSignatures, load_active

log = logging.getLogger(__name__)


@dataclass
class Counters:
    flows: int = 0
    inspected: int = 0
    blocked: int = 0
    audited: int = 0
    fail_closed: int = 0
    hook_errors: int = 0
    pinned: int = 0
    websocket_cuts: int = 0
    tenant_restricted: int = 0
    """Requests that received vendor tenant-restriction headers."""
    verdict_ms: list[float] = field(default_factory=list)

    def note_verdict_ms(self, ms: float) -> None:
        self.verdict_ms.append(ms)
        if len(self.verdict_ms) > 512:
            del self.verdict_ms[:256]


class GuardServices:
    """The proxy's collaborators. Construct with `open()`; `start()` on the proxy loop."""

    def __init__(
        self,
        settings: ProxySettings,
        *,
        store: Store,
        media: MediaMatcher,
        signatures: ActiveSignatures,
        writer: EventWriter,
        agent: str,
    ) -> None:
        self.settings = settings
        self.store = store
        self.media = media
        self.signatures = signatures
        self.writer = writer
        self.agent_id = agent
        self.router = Router(signatures)
        self.limits = ExtractLimits(max_bytes=settings.max_inspect_bytes)
        self.probe = guarded(looks_like_media)
        self.inspector = Inspector(
            media,
            workers=settings.workers,
            max_jobs=settings.max_jobs,
            queue_timeout_s=settings.queue_timeout_s,
            job_timeout_s=settings.job_timeout_s,
            max_bytes_in_flight=2 * settings.max_inspect_bytes,
        )
        self.attribution = ProcessAttribution()
        self.recorder = EventRecorder(
            writer, self.attribution, agent_id=agent, catalog_version=signatures.current().label
        )
        self.sessions = SessionTable(max_bytes=settings.max_inspect_bytes)
        self.pieces = PieceJoiner(max_stream_bytes=min(64 << 20, settings.max_inspect_bytes))
        self.discovery = ShadowDiscovery(store, signatures, agent_id=agent, events=writer)
        self.sink = DrainSink()
        self.counters = Counters()
        self.started_at = time.time()
        self._maintenance: asyncio.Task[None] | None = None

    @classmethod
    def open(cls, settings: ProxySettings) -> GuardServices:
        """Open the store, the media index and the signatures (blocking: call before serving)."""
        from agent.media import MediaService

        store = open_store(settings.store_url)
        ident = agent_id(settings.config)
        media = MediaService(store, agent_id=ident)
        signatures = load_active(settings.data_dir, settings.config)
        writer = EventWriter(store)
        writer.start()
        return cls(settings, store=store, media=media, signatures=signatures, writer=writer, agent=ident)

    @property
    def catalog_label(self) -> str:
        return self.signatures.current().label

    async def start(self) -> None:
        await self.sink.start()
        self.discovery.start()
        self._maintenance = asyncio.get_running_loop().create_task(self._maintain())

    async def _maintain(self) -> None:
        loop = asyncio.get_running_loop()
        refresh = getattr(self.media, "refresh", None)
        while True:
            try:
                if callable(refresh):
                    added = await loop.run_in_executor(None, refresh)
                    if added:
                        log.info("media index: %s new assets", added)
                if await loop.run_in_executor(None, self.signatures.reload_if_changed):
                    self.recorder.catalog_version = self.catalog_label
                await loop.run_in_executor(None, self.write_status)
            except Exception:  # maintenance must never end: the next round may succeed
                log.exception("proxy maintenance round failed")
            await asyncio.sleep(self.settings.refresh_s)

    def status(self) -> dict[str, Any]:
        counters = self.counters
        timings = sorted(counters.verdict_ms)
        return {
            "pid": os.getpid(),
            "time": time.time(),
            "started_at": self.started_at,
            "catalog_version": self.catalog_label,
            "signatures_error": self.signatures.last_error,
            "flows": counters.flows,
            "inspected": counters.inspected,
            "blocked": counters.blocked,
            "audited": counters.audited,
            "fail_closed": counters.fail_closed,
            "hook_errors": counters.hook_errors,
            "pinned": counters.pinned,
            "websocket_cuts": counters.websocket_cuts,
            "tenant_restricted": counters.tenant_restricted,
            "inspections_active": self.inspector.active,
            "inspections_waiting": self.inspector.waiting,
            "inspection_busy_refusals": self.inspector.busy_refusals,
            "inspection_timeouts": self.inspector.timeouts,
            "inspection_bytes_in_flight": self.inspector.bytes_in_flight,
            "upload_sessions": len(self.sessions),
            "session_bytes": self.sessions.buffered_bytes(),
            "split_streams": len(self.pieces),
            "split_bytes": self.pieces.buffered_bytes,
            "events_recorded": self.recorder.recorded,
            "events_dropped": self.writer.dropped,
            "events_error": self.writer.last_error,
            "verdict_ms_p50": timings[len(timings) // 2] if timings else None,
            "sink_drained_bytes": self.sink.drained_bytes,
            "shadow_classified": self.discovery.classified,
        }

    def write_status(self) -> None:
        path = self.settings.status_file
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.status()), encoding="utf-8")
        os.replace(tmp, path)

    async def stop(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._maintenance
        await self.recorder.drain()
        await self.sink.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.discovery.stop)
        self.inspector.close()
        self.attribution.close()

    def close(self) -> None:
        """Flush events and release the store (after `stop`)."""
        self.writer.stop()
        self.store.dispose()
