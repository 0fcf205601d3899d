"""`phiwall siem`: forward a store's SIEM outbox on its own, and show what is queued.

`phiwall run` forwards an agent's own store. `phiwall siem forward --db <fleet URL>` is the
central alternative for a fleet: it forwards the fleet store's outbox, which holds every
agent's forwarded events and the triage done in fleet consoles.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from agent.commands.options import config_option, db_option, resolve
from agent.errors import ConfigError


@click.group()
def siem() -> None:
    """SIEM forwarding of events and triage actions (docs/siem.md)."""


@siem.command()
@db_option
@config_option
def forward(db_url: str | None, config_file: Path | None) -> None:
    """Forward this store's SIEM outbox to the configured destinations until SIGTERM or Ctrl-C."""
    from agent.identity import host_facts
    from agent.logs import setup_logging
    from agent.siem.component import SiemForwarder
    from agent.siem.destination import build_destination
    from agent.store import open_store

    setup_logging()
    config, url = resolve(config_file, db_url)
    if not config.siem.destinations:
        raise ConfigError("no [[siem.destinations]] in the configuration", hint="see docs/siem.md")
    hostname = host_facts()["hostname"]
    destinations = [build_destination(d, hostname) for d in config.siem.destinations]
    store = open_store(url)
    forwarder = SiemForwarder(store, destinations, config.siem)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    forwarder.start()
    try:
        while not stop.wait(30.0):
            health = forwarder.health()
            click.echo(f"siem: {health.status}: {health.message}", err=True)
    finally:
        forwarder.stop()
        store.dispose()


@siem.command()
@db_option
@config_option
def status(db_url: str | None, config_file: Path | None) -> None:
    """Show how many records wait for each configured destination."""
    from agent.siem.outbox import backlog
    from agent.store import open_store

    config, url = resolve(config_file, db_url)
    store = open_store(url, migrate=False)
    try:
        for destination in config.siem.destinations:
            click.echo(f"{destination.name}\t{destination.transport}\t{backlog(store, destination.name)} queued")
    finally:
        store.dispose()
