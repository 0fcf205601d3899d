"""Fingerprinting off the event loop, with bounded concurrency and back-pressure.

mitmproxy runs every flow on one asyncio loop; decoding a 10 MB recording takes hundreds of
milliseconds of CPU. `Inspector` runs extraction and matching in its own small thread pool
(PyAV, libchromaprint and numpy release the GIL for most of the work) and admits at most
`max_jobs` jobs at once, holding at most `max_bytes_in_flight` bytes of payload between them
(decoding multiplies a payload several times in memory, so this is what bounds the proxy's
memory under many concurrent uploads). A flow that cannot get a slot within
`queue_timeout_s` gets an `InspectionBusy` answer, which the verdict turns into a fail-closed block for unapproved AI
services: saturation never lets an upload through uninspected, and it never stalls flows that
need no inspection (they never enter the pool).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from agent.media.model import MatchOutcome, MediaLimits, MediaMatch
from agent.payload.textmedia import declared_media
from agent.payload.types import PayloadPart
from agent.proxy.probing import ProbePolicy, probe_part

log = logging.getLogger(__name__)

T = TypeVar("T")


class MediaMatcher(Protocol):
    """The part of `agent.media.MediaService` the proxy uses (thread-safe)."""

    def match_bytes(self, data: bytes, *, limits: MediaLimits | None = None) -> MatchOutcome: ...

    def match_decodable(self, data: bytes, *, limits: MediaLimits | None = None) -> MatchOutcome: ...

    def match_pcm(
        self, pcm: bytes, *, sample_rate: int, channels: int = 1, sample_format: str = "s16le"
    ) -> MatchOutcome: ...


class InspectionBusy(Exception):
    """No inspection slot became free in time (the proxy is saturated)."""


class InspectionTimeout(Exception):
    """An inspection took longer than its deadline."""


@dataclass
class PartsResult:
    """What matching the parts of one upload found."""

    match: MediaMatch | None = None
    matched_where: str | None = None
    matched_sha256: str | None = None  # of the part that matched, to compare with the enrolled file
    sniffed: list[str] = field(default_factory=list)
    media_parts: int = 0
    errors: list[str] = field(default_factory=list)
    ms: float = 0.0

    @property
    def has_media(self) -> bool:
        return self.media_parts > 0


def match_parts(
    media: MediaMatcher, parts: Sequence[PayloadPart], limits: MediaLimits, probe: ProbePolicy | None = None
) -> PartsResult:
    """Match parts in order, stopping at the first clinical match. Runs in a worker thread.

    With `probe` (uploads to AI services), parts libmagic does not call media are read by
    decoding (agent.proxy.probing); what stays unreadable may become an inspection error.
    """
    result = PartsResult()
    started = time.perf_counter()
    for part in parts:
        # The media API takes bytes: a part that is a view into the body is copied here, one part
        # at a time, for as long as its match runs (not for the whole inspection).
        data = part.data if isinstance(part.data, bytes) else bytes(part.data)
        if part.pcm is not None:
            outcome = media.match_pcm(
                data,
                sample_rate=part.pcm.sample_rate,
                channels=part.pcm.channels,
                sample_format=part.pcm.sample_format,
            )
            mime: str | None = f"audio/pcm;rate={part.pcm.sample_rate}"
            is_media = True
        else:
            outcome = media.match_bytes(data, limits=limits)
            mime = outcome.mime
            is_media = outcome.media_kind is not None or declared_media(part.declared_type)
            if probe is not None and outcome.media_kind is None and outcome.match is None:
                probed = probe_part(media, data, outcome.mime, probe, limits)
                if probed.outcome is not None:
                    outcome, is_media = probed.outcome, True
                    mime = f"{outcome.mime or 'audio'} (probed: {probed.how})"
                    part = PayloadPart(f"{part.where} [{probed.how}]", part.data, part.declared_type)
                elif probed.error is not None:
                    result.errors.append(f"{part.where}: {probed.error}")
        if mime and mime not in result.sniffed and (is_media or outcome.match):
            result.sniffed.append(mime)
        if is_media:
            result.media_parts += 1
        if outcome.match is not None:
            result.match = outcome.match
            result.matched_where = part.where
            result.matched_sha256 = hashlib.sha256(data).hexdigest()
            break
        if outcome.error and is_media:
            result.errors.append(f"{part.where}: {outcome.error}")
        del data
    result.ms = (time.perf_counter() - started) * 1000
    return result


class Inspector:
    """A bounded pool for CPU work on payloads; one per proxy process."""

    def __init__(
        self,
        media: MediaMatcher,
        *,
        workers: int = 2,
        max_jobs: int = 8,
        queue_timeout_s: float = 20.0,
        job_timeout_s: float = 60.0,
        max_bytes_in_flight: int = 512 << 20,
        limits: MediaLimits | None = None,
    ) -> None:
        self.media = media
        self.limits = limits or MediaLimits(max_decode_s=max(1.0, job_timeout_s - 5))
        self.queue_timeout_s = queue_timeout_s
        self.job_timeout_s = job_timeout_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="phiwall-inspect")
        self._slots = asyncio.BoundedSemaphore(max_jobs)
        self.max_jobs = max_jobs
        self.max_bytes_in_flight = max_bytes_in_flight
        self.bytes_in_flight = 0
        self._bytes_freed = asyncio.Condition()
        self.active = 0
        self.waiting = 0
        self.busy_refusals = 0
        self.timeouts = 0
        self.jobs = 0

    async def _admit(self, weight: int) -> None:
        """Take a job slot and `weight` bytes of the budget (a job larger than the budget runs alone)."""
        await self._slots.acquire()
        try:
            async with self._bytes_freed:
                await self._bytes_freed.wait_for(
                    lambda: self.bytes_in_flight == 0 or self.bytes_in_flight + weight <= self.max_bytes_in_flight
                )
                self.bytes_in_flight += weight
        except BaseException:
            self._slots.release()
            raise

    async def _release(self, weight: int) -> None:
        async with self._bytes_freed:
            self.bytes_in_flight -= weight
            self._bytes_freed.notify_all()
        self._slots.release()

    async def run(self, fn: Callable[..., T], *args: object, weight: int = 0) -> T:
        """Run `fn(*args)` in the pool once a slot (and `weight` bytes of budget) is free.

        Raises InspectionBusy when that takes longer than the queue timeout, InspectionTimeout
        when the job itself outlives its deadline.
        """
        self.waiting += 1
        try:
            await asyncio.wait_for(self._admit(weight), self.queue_timeout_s)
        except TimeoutError:
            self.busy_refusals += 1
            raise InspectionBusy(
                f"inspection queue saturated ({self.active} uploads, {self.bytes_in_flight >> 20} MB in progress)"
            ) from None
        finally:
            self.waiting -= 1
        self.active += 1
        self.jobs += 1
        try:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._pool, fn, *args)
            try:
                return await asyncio.wait_for(asyncio.shield(future), self.job_timeout_s)
            except TimeoutError:
                self.timeouts += 1
                # The thread cannot be interrupted; MediaLimits.max_decode_s ends it soon after.
                raise InspectionTimeout(f"inspection took longer than {self.job_timeout_s:.0f} s") from None
        finally:
            self.active -= 1
            await self._release(weight)

    async def match(self, parts: Sequence[PayloadPart], probe: ProbePolicy | None = None) -> PartsResult:
        if not parts:
            return PartsResult()
        weight = sum(len(part.data) for part in parts)
        return await self.run(match_parts, self.media, list(parts), self.limits, probe, weight=weight)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
