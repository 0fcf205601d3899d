"""What every PhiWall flow addon shares: the proxy's services and the one way to decide."""

from __future__ import annotations

from typing import ClassVar

from agent.proxy.decisions import Decisions
from agent.proxy.services import GuardServices


class FlowAddon:
    """An addon with one job over the shared services; its hooks wear `@failsafe`.

    Unless `any_phase` is set, its `requestheaders` acts only while the flow is in
    `Phase.HEADERS` and its `request` never on a `Phase.PASS` flow, so the composite skips
    those hooks for flows already past them (the hot path of ordinary browsing).
    """

    any_phase: ClassVar[bool] = False

    def __init__(self, services: GuardServices, decisions: Decisions) -> None:
        self.services = services
        self.decisions = decisions
