"""`phiwall console`: the analyst console (Textual) over the local or fleet store."""

from __future__ import annotations

import functools
import importlib
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from agent.commands.options import config_option, db_option, resolve
from agent.config_location import peek_store
from agent.errors import ConfigError
from agent.store_location import require_existing_store_quickly


def _flatten_keymap(table: dict[str, Any], prefix: str, path: Path) -> dict[str, str]:
    """Binding id -> keys from every natural TOML spelling of one.

    `"incidents.close" = "C"`, `incidents.close = "C"` (a dotted key: a nested table),
    `[incidents]` + `close = "C"`, all optionally under `[keymap]`; a list of keys
    (`close = ["C", "shift+x"]`) is joined with commas, as Textual keymaps take several keys.
    """
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten_keymap(value, f"{name}.", path))
        elif isinstance(value, str) and value.strip():
            flat[name] = value.strip()
        elif isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
            flat[name] = ",".join(v.strip() for v in value)
        else:
            raise ConfigError(f'keymap {path}: {name}: expected keys as a string or a list of strings (`{name} = "C"`)')
    return flat


def _load_keymap(path: Path | None) -> dict[str, str]:
    """A TOML file of binding id -> keys (e.g. `incidents.close = "C"`), as Textual keymaps take."""
    if path is None:
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read keymap {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"keymap {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"keymap {path} is not valid TOML: {exc}") from None
    keymap = raw.get("keymap", raw) if isinstance(raw.get("keymap"), dict) else raw
    return _flatten_keymap(keymap, "", path)


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
    if demo and db_url is not None:
        raise click.UsageError("--demo opens its own throwaway store: leave out --db")
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    validate: Callable[[], object] | None = None
    if not demo:
        # In a terminal the store URL and data dir are read without pydantic and the whole
        # config file is validated right after the first frame; otherwise it is read now.
        peeked = peek_store(config_file, db_url) if interactive else None
        if peeked is None:
            config, url = resolve(config_file, db_url)
            data_dir = config.data_dir
        else:
            url, data_dir = peeked
            validate = functools.partial(resolve, config_file, db_url)
        # Without SQLAlchemy (it loads in a worker after the first frame).
        require_existing_store_quickly(url)  # never open a fresh, empty store on a mistyped path
    if not interactive:
        raise click.UsageError("the console needs an interactive terminal (stdin and stdout must be a TTY)")
    if demo:
        with tempfile.TemporaryDirectory(prefix="phiwall-demo-") as directory:
            click.echo("Building a demo store (synthetic data, deleted on exit)…", err=True)
            url = importlib.import_module("console.data.demo").build_demo_store(Path(directory))
            _run(url, source.analyst_name(analyst), read_only, poll_interval, keymap, Path(directory) / "agent")
        return
    _run(url, source.analyst_name(analyst), read_only, poll_interval, keymap, data_dir, validate)


def _run(
    url: str,
    analyst: str,
    read_only: bool,
    poll_interval: float,
    keymap: dict[str, str],
    data_dir: Path,
    validate: Callable[[], object] | None = None,
) -> None:
    """Open the app; `data_dir` is the local agent's, where Services approve/block writes the overlay.

    `validate` (the full config check) runs after the first frame; its error ends the app and
    is reported here like any command's.
    """
    settings_module = importlib.import_module("console.settings")
    settings = settings_module.ConsoleSettings(
        url=url,
        analyst=analyst,
        read_only=read_only,
        poll_interval=poll_interval,
        keymap=keymap,
        agent_data_dir=data_dir,
        preflight=validate,
        tune_garbage_collector=True,
    )
    app = importlib.import_module("console.app").ConsoleApp(settings)
    app.run()
    if app.fatal_error is not None:
        raise app.fatal_error
