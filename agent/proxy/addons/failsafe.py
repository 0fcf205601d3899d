"""The one wrapper every PhiWall hook wears: a crash fails closed for AI destinations, else passes.

mitmproxy catches exceptions raised in hooks and lets the flow continue, which for an upload
to an unapproved AI service would mean "forward it uninspected". `@failsafe` catches them
first: on a flow whose destination can be blocked (`Destination.can_block`), a crash in a
request hook blocks the flow with the error type as reason, and a crash in a WebSocket message
hook drops the message; anywhere else it is logged and the flow passes. Every crash is counted
(`hook_errors` in the status file).

The wrapper allocates nothing on the normal path (one call, one `try`): it runs for every hook
of every flow, so it must stay cheaper than the hooks it guards.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from mitmproxy import http

from agent.proxy.decisions import Decisions
from agent.proxy.flows import state_of

log = logging.getLogger(__name__)

Pending = Coroutine[None, None, None]
FLOW_BLOCKING_HOOKS = frozenset({"requestheaders", "request"})


class Guarded(Protocol):
    """What `@failsafe` needs of the addon it wraps a hook of."""

    decisions: Decisions


def failsafe[A: Guarded, T](hook: Callable[[A, T], Pending | None]) -> Callable[[A, T], Pending | None]:
    """Wrap a hook (sync, or returning a coroutine mitmproxy awaits) so that a crash fails safe."""
    name = hook.__name__

    @functools.wraps(hook)
    def guarded(addon: A, data: T) -> Pending | None:
        try:
            pending = hook(addon, data)
        except Exception as exc:
            failed(addon.decisions, name, data, exc)
            return None
        if pending is None:
            return None
        return finish(addon.decisions, name, data, pending)

    return guarded


async def finish(decisions: Decisions, name: str, data: object, pending: Pending) -> None:
    """Await a hook's coroutine (or a task it started) so that its crash fails safe too."""
    try:
        await pending
    except Exception as exc:
        failed(decisions, name, data, exc)


def failed(decisions: Decisions, hook: str, data: object, exc: BaseException) -> None:
    """Count and log the crash, then fail closed where the flow is blockable."""
    decisions.services.counters.hook_errors += 1
    log.error("%s hook failed: %s", hook, exc, exc_info=exc)
    if not isinstance(data, http.HTTPFlow):
        return  # TLS and lifecycle hooks: nothing to block (a handshake is intercepted by default)
    state = state_of(data)
    if state is None:
        return
    if hook in FLOW_BLOCKING_HOOKS:
        decisions.fail_closed(data, state, exc, at_headers=hook == "requestheaders")
    elif hook == "websocket_message" and state.dest.can_block and data.websocket and data.websocket.messages:
        drop(data.websocket.messages[-1])  # an unexamined message does not pass


def drop(message: Any) -> None:
    """Do not forward this WebSocket message (mitmproxy's `drop` is untyped)."""
    message.drop()
