"""`phiwall doctor` check for SIEM forwarding: can each destination be reached, and what is queued?"""

from __future__ import annotations

import ssl

from agent.checkup import DoctorContext, Finding
from agent.errors import PhiWallError


def _backlog(store_url: str, names: list[str]) -> dict[str, str]:
    from sqlalchemy.exc import SQLAlchemyError

    from agent.siem.outbox import backlog
    from agent.store import open_store

    found = dict.fromkeys(names, "unknown")
    try:
        store = open_store(store_url, migrate=False)
    except PhiWallError:
        return found
    try:
        for name in names:
            found[name] = str(backlog(store, name))
    except SQLAlchemyError:
        pass  # a store from before the SIEM outbox existed: `phiwall run` migrates it
    finally:
        store.dispose()
    return found


def check_siem(ctx: DoctorContext) -> Finding:
    settings = ctx.config.siem
    if not settings.destinations:
        return Finding("siem", "ok", "not configured (no SIEM forwarding)")
    from agent.identity import host_facts
    from agent.siem.destination import build_destination

    queued = _backlog(ctx.store_url, [d.name for d in settings.destinations])
    hostname = host_facts()["hostname"]
    problems: list[str] = []
    reports: list[str] = []
    for destination in settings.destinations:
        try:
            target = build_destination(destination, hostname)
            target.probe()
        except PhiWallError as err:
            problems.append(f"{destination.name}: {err.message}; {queued[destination.name]} queued")
            continue
        except (OSError, ssl.SSLError) as exc:
            problems.append(f"{destination.name}: cannot load TLS files: {exc}")
            continue
        state = "writable" if destination.transport == "file" else "reachable"
        reports.append(f"{destination.name} {target.address} {state}, {queued[destination.name]} queued")
    if problems:
        return Finding(
            "siem",
            "warn",
            "; ".join(problems + reports),
            "check the receiver, its port and certificates; records stay queued meanwhile",
        )
    return Finding("siem", "ok", "; ".join(reports))
