"""`phiwall notify`: the per-user helper that shows PhiWall's block notices on the desktop."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import click

from agent.commands.options import config_option


@click.command()
@click.option(
    "--socket",
    "socket_path",
    default=None,
    help="The agent's socket (default: $PHIWALL_NOTIFY_SOCKET, /run/phiwall/notify.sock, else from the data dir).",
)
@click.option(
    "--quiet-seconds",
    type=click.FloatRange(0, 3600),
    default=60.0,
    show_default=True,
    help="Blocks closer together than this are one burst: one notification.",
)
@config_option
def notify(socket_path: str | None, quiet_seconds: float, config_file: Path | None) -> None:
    """Show a desktop notification when PhiWall blocks one of your uploads (run in your session)."""
    from agent.config import load_config
    from agent.notify.helper import DesktopShower, run_helper
    from agent.notify.paths import default_socket

    path = socket_path or default_socket(load_config(config_file).data_dir)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_helper(path, DesktopShower(), quiet=quiet_seconds))
