"""The per-user helper (`phiwall notify`): receive notices from the agent, show them on the desktop.

Runs in the clinician's session (started by the desktop: XDG autostart or a systemd --user
unit, see installer/), so it can reach that session's notification service. Shows at most
one notification per upload burst (`BurstGate`). Reconnects to the agent with back-off.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from agent.backoff import Backoff
from agent.notify.notices import BurstGate, Notice

log = logging.getLogger(__name__)

RECONNECT = Backoff(first=0.5, cap=30.0)
"""Reconnecting to the agent's notice socket: 0.5 s, 1 s, 2 s ... 30 s."""


class Shower(Protocol):
    async def show(self, notice: Notice) -> None: ...


class DesktopShower:
    """desktop-notifier: the freedesktop D-Bus interface on Linux, native back ends elsewhere."""

    def __init__(self) -> None:
        from desktop_notifier import DesktopNotifier

        self._notifier = DesktopNotifier(app_name="PhiWall")

    async def show(self, notice: Notice) -> None:
        from desktop_notifier import Urgency

        await self._notifier.send(title=notice.title, message=notice.body, urgency=Urgency.Critical, timeout=-1)


async def run_helper(
    address: str,
    shower: Shower,
    *,
    quiet: float = 60.0,
    stop: asyncio.Event | None = None,
    max_notices: int | None = None,
) -> int:
    """Show notices until `stop` is set (or `max_notices` were shown); returns how many were shown."""
    stop = stop or asyncio.Event()
    gate = BurstGate(quiet)
    shown = 0
    failed_in_a_row = 0
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_unix_connection(address)
        except OSError as exc:
            failed_in_a_row += 1
            delay = RECONNECT.delay(failed_in_a_row)
            log.debug("agent not reachable at %r (%s); retrying in %.1f s", address, exc, delay)
            with_timeout = asyncio.ensure_future(stop.wait())
            await asyncio.wait([with_timeout], timeout=delay)
            with_timeout.cancel()
            continue
        failed_in_a_row = 0
        try:
            while not stop.is_set():
                line_task = asyncio.ensure_future(reader.readline())
                stop_task = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait([line_task, stop_task], return_when=asyncio.FIRST_COMPLETED)
                stop_task.cancel()
                if line_task not in done:
                    line_task.cancel()
                    break
                line = line_task.result()
                if not line:
                    break  # the agent restarted: reconnect
                try:
                    notice = Notice.from_line(line)
                except (ValueError, KeyError, TypeError):
                    continue
                if not gate.admit():
                    continue
                try:
                    await shower.show(notice)
                    shown += 1
                except Exception as exc:  # no notification service right now: keep listening
                    log.warning("could not show a notification: %s", exc)
                if max_notices is not None and shown >= max_notices:
                    stop.set()
        finally:
            writer.close()
    return shown
