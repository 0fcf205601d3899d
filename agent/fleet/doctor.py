"""`phiwall doctor` check for fleet mode: is the fleet store reachable, and is anything waiting?"""

from __future__ import annotations

from agent.checkup import DoctorContext, Finding
from agent.errors import PhiWallError


def check_fleet(ctx: DoctorContext) -> Finding:
    url = ctx.config.store.fleet_url
    if not url:
        return Finding("fleet", "ok", "not configured (standalone agent)")
    from agent.fleet.forward import outbox_depth
    from agent.store import check_connection, make_engine, open_store, redact

    queued = "unknown"
    try:
        local = open_store(ctx.store_url, migrate=False)
        try:
            queued = str(outbox_depth(local))
        finally:
            local.dispose()
    except PhiWallError:
        pass
    engine = make_engine(url)
    try:
        check_connection(engine, url)
    except PhiWallError as err:
        return Finding(
            "fleet",
            "warn",
            f"unreachable: {err.message}; {queued} rows queued locally, enforcement continues",
            "check the fleet database and the network; nothing is lost meanwhile",
        )
    finally:
        engine.dispose()
    return Finding("fleet", "ok", f"{redact(url)} reachable; {queued} rows queued locally")
