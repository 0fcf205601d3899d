"""Verdicts to events: mark a flow blocked (or note an audit) and hand the event to the recorder.

Every addon that decides something goes through here, so a block always means the same: the
flow's phase is BLOCKED with its reason and incident, its body can only reach the drain sink,
the counter moves, and one event is recorded (answered by `addons.answer`).
"""

from __future__ import annotations

from mitmproxy import http

from agent.policy.verdict import Verdict
from agent.proxy.flows import FlowState, Phase, block_response, client_ref, draft_for, redirect_to_sink, restore_target
from agent.proxy.inspect import PartsResult
from agent.proxy.services import GuardServices


class Decisions:
    def __init__(self, services: GuardServices) -> None:
        self.services = services

    def block(
        self,
        flow: http.HTTPFlow,
        state: FlowState,
        verdict: Verdict,
        *,
        result: PartsResult | None = None,
        payload_size: int | None = None,
        details: dict[str, object] | None = None,
        asset_id: str | None = None,
        kind: str = "upload",
    ) -> None:
        """Mark the flow blocked (answered in `request`, or at `responseheaders` via the sink) and record the event."""
        draft = draft_for(flow, state, verdict, kind=kind, result=result, payload_size=payload_size, details=details)
        if asset_id is not None and draft.asset_id is None:
            draft.asset_id = asset_id
        state.incident = draft.id
        state.block_reason = verdict.reason
        state.sanctioned = verdict.sanctioned
        state.phase = Phase.BLOCKED
        services = self.services
        if services.sink.address is not None:
            # Whatever happens next (a late switch to streaming), the body can only reach the sink.
            redirect_to_sink(flow, state, services.sink.address)
        services.counters.blocked += 1
        services.recorder.record(draft, client_ref(flow))

    def record(
        self,
        flow: http.HTTPFlow,
        state: FlowState,
        verdict: Verdict,
        *,
        result: PartsResult | None = None,
        payload_size: int | None = None,
        details: dict[str, object] | None = None,
        kind: str = "upload",
    ) -> None:
        draft = draft_for(flow, state, verdict, kind=kind, result=result, payload_size=payload_size, details=details)
        self.services.recorder.record(draft, client_ref(flow))

    def fail_closed(self, flow: http.HTTPFlow, state: FlowState, error: BaseException, *, at_headers: bool) -> None:
        """An exception escaped a request hook: block if the destination is blockable, else let it pass."""
        if not state.dest.can_block or state.block_reason is not None:
            restore_target(flow, state)
            return
        self.services.counters.fail_closed += 1
        verdict = Verdict("block", f"the upload could not be inspected (internal error: {type(error).__name__})", True)
        self.block(flow, state, verdict, details={"internal_error": type(error).__name__})
        if not at_headers and not flow.request.stream:
            assert state.incident is not None
            flow.response = block_response(flow, verdict.reason, state.incident)
