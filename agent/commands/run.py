"""`phiwall run`: the agent on embedded defaults unless configured otherwise."""

from __future__ import annotations

from pathlib import Path

import click

from agent.commands.options import config_option, db_option, resolve
from agent.config import ProxySection
from agent.errors import ConfigError
from agent.logs import setup_logging


@click.command()
@db_option
@config_option
@click.option("--listen", metavar="HOST:PORT", default=None, help="Proxy address (default 127.0.0.1:8080).")
def run(db_url: str | None, config_file: Path | None, listen: str | None) -> None:
    """Run the agent: supervised proxy, folder watcher, signature updates, heartbeats.

    Stops cleanly on SIGTERM or Ctrl-C.
    """
    from agent.runtime import run_agent

    setup_logging()
    config, url = resolve(config_file, db_url)
    if listen is not None:
        try:
            ProxySection(listen=listen)
        except ValueError as exc:
            raise ConfigError(f"--listen {listen!r}: expected HOST:PORT") from exc
    run_agent(config, url, listen)
