"""`phiwall notify`: the per-user helper that shows PhiWall's block notices on the desktop."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import click


@click.command()
@click.option(
    "--socket",
    "socket_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The agent's notification socket (default: $PHIWALL_NOTIFY_SOCKET, /run/phiwall/notify.sock).",
)
@click.option(
    "--quiet-seconds",
    type=click.FloatRange(0, 3600),
    default=60.0,
    show_default=True,
    help="Blocks closer together than this are one burst: one notification.",
)
def notify(socket_path: Path | None, quiet_seconds: float) -> None:
    """Show a desktop notification when PhiWall blocks one of your uploads (run in your session)."""
    from agent.notify.helper import DesktopShower, run_helper
    from agent.notify.paths import default_socket

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_helper(socket_path or default_socket(), DesktopShower(), quiet=quiet_seconds))
