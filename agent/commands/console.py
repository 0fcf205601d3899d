"""`phiwall console`: the analyst console (Textual) over the local or fleet store."""

from __future__ import annotations

import importlib
import sys
import tempfile
import tomllib
from pathlib import Path

import click

from agent.commands.options import config_option, db_option, resolve
from agent.errors import ConfigError


def _load_keymap(path: Path | None) -> dict[str, str]:
    """A TOML file of binding id -> keys (e.g. `"incidents.close" = "C"`), as Textual keymaps take."""
    if path is None:
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read keymap {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"keymap {path} is not valid TOML: {exc}") from None
    keymap = raw.get("keymap", raw)
    if not isinstance(keymap, dict) or not all(isinstance(v, str) for v in keymap.values()):
        raise ConfigError(f'keymap {path}: expected `binding.id = "keys"` lines')
    return {str(k): v for k, v in keymap.items()}


@click.command()
@db_option
@config_option
@click.option("--read-only", is_flag=True, help="Auditor mode: no triage, no schema migration, read-only connections.")
@click.option(
    "--analyst",
    metavar="NAME",
    default=None,
    help="Name recorded with every triage action (default: $PHIWALL_ANALYST, then the OS user).",
)
@click.option(
    "--keymap",
    "keymap_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML file remapping keys by binding id (see docs/console.md).",
)
@click.option(
    "--poll",
    "poll_interval",
    type=click.FloatRange(0.2, 60.0),
    default=1.0,
    show_default=True,
    help="Seconds between checks for new events.",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Open a throwaway store filled with a realistic synthetic week (no real data; deleted on exit).",
)
def console(
    db_url: str | None,
    config_file: Path | None,
    read_only: bool,
    analyst: str | None,
    keymap_file: Path | None,
    poll_interval: float,
    demo: bool,
) -> None:
    """Open the analyst console: triage incidents, review shadow AI and the fleet.

    Keys: ? help, ctrl+p command palette, q quit. The store is chosen like every
    command's (--db, $PHIWALL_DB, the config file, the local SQLite store);
    --demo opens a synthetic one instead.
    """
    # The one bridge from agent/ to console/: loaded by name, only when this command runs, so
    # the agent (and `phiwall run`) never depends on the console or Textual.
    # console.settings is light: SQLAlchemy and the models load in a worker after the first frame.
    source = importlib.import_module("console.settings")

    keymap = _load_keymap(keymap_file)
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise click.UsageError("the console needs an interactive terminal (stdin and stdout must be a TTY)")
    if demo:
        if db_url is not None:
            raise click.UsageError("--demo opens its own throwaway store: leave out --db")
        with tempfile.TemporaryDirectory(prefix="phiwall-demo-") as directory:
            click.echo("Building a demo store (synthetic data, deleted on exit)…", err=True)
            url = importlib.import_module("console.data.demo").build_demo_store(Path(directory))
            _run(url, source.analyst_name(analyst), read_only, poll_interval, keymap, Path(directory) / "agent")
        return
    config, url = resolve(config_file, db_url)
    _run(url, source.analyst_name(analyst), read_only, poll_interval, keymap, config.data_dir)


def _run(url: str, analyst: str, read_only: bool, poll_interval: float, keymap: dict[str, str], data_dir: Path) -> None:
    """Open the app; `data_dir` is the local agent's, where Services approve/block writes the overlay."""
    settings_module = importlib.import_module("console.settings")
    settings = settings_module.ConsoleSettings(
        url=url,
        analyst=analyst,
        read_only=read_only,
        poll_interval=poll_interval,
        keymap=keymap,
        agent_data_dir=data_dir,
    )
    importlib.import_module("console.app").ConsoleApp(settings).run()
