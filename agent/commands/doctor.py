"""`phiwall doctor`: check what the agent needs and say how to fix what is missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from agent.checkup import DoctorContext
from agent.commands.options import config_option, db_option, resolve
from agent.config import ProxySection
from agent.doctor import run_checks
from agent.errors import ConfigError

MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


@click.command()
@db_option
@config_option
@click.option("--listen", metavar="HOST:PORT", default=None, help="The proxy address given to `phiwall run --listen`.")
@click.option("--json", "as_json", is_flag=True, help="Print findings as JSON.")
def doctor(db_url: str | None, config_file: Path | None, listen: str | None, as_json: bool) -> None:
    """Check libmagic, libchromaprint, PyAV, the store, the CA, the catalog and the agent.

    The agent is looked for where `phiwall run` listens with the same config and --listen.
    Exit status 0 when nothing fails (warnings allowed), 1 otherwise.
    """
    config, url = resolve(config_file, db_url)
    if listen is not None:
        try:
            ProxySection(listen=listen)
        except ValueError as exc:
            raise ConfigError(f"--listen {listen!r}: expected HOST:PORT") from exc
    findings = run_checks(DoctorContext(config=config, store_url=url, listen=listen))
    if as_json:
        click.echo(json.dumps([f.__dict__ for f in findings], indent=2))
    else:
        width = max(len(f.name) for f in findings)
        for f in findings:
            line = f"{MARK[f.level]}  {f.name:<{width}}  {f.detail}"
            if f.fix and f.level != "ok":
                line += f"  -> {f.fix}"
            click.echo(line)
    failed = [f for f in findings if f.level == "fail"]
    if not as_json:
        click.echo("healthy" if not failed else f"{len(failed)} problem(s) need fixing")
    sys.exit(1 if failed else 0)
