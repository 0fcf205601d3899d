"""The `phiwall` command (docs/configuration.md "Errors and exit statuses", docs/detection.md).

Subcommands live in `agent/commands/`, one module each, and are imported only when used so
that `phiwall match` does not pay for mitmproxy or Textual. Errors a person can fix are
`PhiWallError`s: printed on one line to stderr, non-zero exit, no traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

import click

from agent import __version__
from agent.environment import environment
from agent.errors import ConfigError, PhiWallError

# name -> "module:attribute" of a click command, imported on first use.
SUBCOMMANDS: dict[str, str] = {
    "run": "agent.commands.run:run",
    "enroll": "agent.commands.media:enroll",
    "match": "agent.commands.media:match",
    "console": "agent.commands.console:console",
    "signatures": "agent.commands.signatures:signatures",
    "doctor": "agent.commands.doctor:doctor",
    "db": "agent.commands.db:db",
    "config": "agent.commands.config:config",
    "notify": "agent.commands.notify:notify",
    "siem": "agent.commands.siem:siem",
    "scrub": "agent.commands.scrub:scrub",
}

SHORT_HELP: dict[str, str] = {
    "run": "Run the agent: supervised proxy, folder watcher, updates.",
    "enroll": "Fingerprint clinical media files or folders now.",
    "match": "Check files against the enrolled clinical media.",
    "console": "Open the analyst console.",
    "signatures": "Verify and install signed signature bundles; policy helpers.",
    "doctor": "Check libraries, store, CA and catalog; say how to fix problems.",
    "db": "Show or upgrade the store schema.",
    "config": "Create, show or locate the configuration file.",
    "notify": "Show a desktop notification when one of your uploads is blocked.",
    "siem": "Forward a store's events and triage to the SIEM; show the queue.",
    "scrub": "De-identify audio, video and images offline (voices, faces, skeletons).",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SHORT_HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="phiwall")
def cli() -> None:
    """PhiWall: stop clinical recordings from leaking to AI services.

    Every command takes --help. The store is chosen by --db, then $PHIWALL_DB, then
    `store.url` in the config file, then SQLite under the data dir.
    """


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the CLI and turn every failure into a one-line message."""
    return run_cli(cli, argv, "phiwall")


def run_cli(command: click.Command, argv: Sequence[str] | None, prog: str) -> int:
    """Run `command` as program `prog` (`phiwall`, `phiwall-publish`): failures become one line."""
    debug = _debug_requested()
    try:
        result = command.main(args=list(argv) if argv is not None else None, prog_name=prog, standalone_mode=False)
    except PhiWallError as err:
        click.echo(f"{prog}: error: {err}", err=True)
        return err.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo(f"{prog}: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if debug:
            raise
        logging.getLogger("phiwall").debug("internal error", exc_info=True)
        click.echo(
            f"{prog}: internal error: {type(exc).__name__}: {exc} "
            "(a bug: please report it; PHIWALL_DEBUG=1 shows the traceback)",
            err=True,
        )
        return 70
    return result if isinstance(result, int) else 0


def _debug_requested() -> bool:
    """`PHIWALL_DEBUG`: tracebacks instead of one-line errors (a malformed value is not debug)."""
    try:
        return environment().debug
    except ConfigError:
        return False


if __name__ == "__main__":
    sys.exit(main())
