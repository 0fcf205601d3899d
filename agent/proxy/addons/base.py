"""What every PhiWall flow addon shares: the proxy's services and the one way to decide."""

from __future__ import annotations

from agent.proxy.decisions import Decisions
from agent.proxy.services import GuardServices


class FlowAddon:
    """An addon with one job over the shared services; its hooks wear `@failsafe`."""

    def __init__(self, services: GuardServices, decisions: Decisions) -> None:
        self.services = services
        self.decisions = decisions
