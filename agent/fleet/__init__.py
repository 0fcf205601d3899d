"""Fleet mode: many agents, one PostgreSQL fleet store the analysts' console reads.

Each agent keeps its own SQLite store as the primary record and keeps enforcing from it when
the fleet store is away. `FleetLink` (component.py) forwards the local outbox to the fleet
(idempotent by the rows' own ids), shares enrolled fingerprints both ways by a fleet-side
sequence watermark, and upserts the agent's heartbeat row. See docs/operations.md.
"""

from agent.fleet.component import FleetLink, build
from agent.fleet.forward import forward_events, push_assets
from agent.fleet.sync import PullResult, pull_assets

__all__ = ["FleetLink", "PullResult", "build", "forward_events", "pull_assets", "push_assets"]
