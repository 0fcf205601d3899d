"""Heartbeats in the fleet store: the agent row the fleet console lists, upserted.

The runtime already keeps the local `agent` row current (component health included); the
fleet copy is that row plus the fleet link's own view, stamped when it reached the fleet.
"""

from __future__ import annotations

import json

from agent import __version__
from agent.fleet.rows import columns_of, upsert
from agent.identity import host_facts
from agent.store import Agent, Store, utcnow


def send_heartbeat(local: Store, fleet: Store, agent_id: str, fleet_health: dict[str, str]) -> None:
    with local.session() as session:
        row = session.get(Agent, agent_id)
    if row is None:
        facts = host_facts()
        row = Agent(id=agent_id, hostname=facts["hostname"], os=facts["os"], version=__version__)
    values = columns_of(row)
    health = json.loads(row.health or "{}")
    health["fleet"] = fleet_health
    values["health"] = json.dumps(health, sort_keys=True)
    values["last_heartbeat"] = utcnow()
    with fleet.engine.begin() as conn:
        # first_seen is the fleet's own: an existing row keeps the value it had.
        upsert(conn, Agent.__table__, values, ["id"], keep=["first_seen"])  # type: ignore[attr-defined]
