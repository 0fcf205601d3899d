"""Options shared by subcommands (`--db`, `--config`) and the objects they resolve to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from agent.config import Config

F = TypeVar("F", bound=Callable[..., Any])


def config_option[F: Callable[..., Any]](func: F) -> F:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Configuration file (default: $PHIWALL_CONFIG, then the platform config dir).",
    )(func)


def db_option[F: Callable[..., Any]](func: F) -> F:
    return click.option(
        "--db",
        "db_url",
        metavar="URL",
        default=None,
        help="Store URL (sqlite:///PATH or postgresql+psycopg://...). Default: $PHIWALL_DB, "
        "then store.url in the config, then SQLite under the data dir.",
    )(func)


def resolve(config_file: Path | None, db_url: str | None) -> tuple[Config, str]:
    """Load the configuration and decide the store URL by the documented precedence."""
    from agent.config import load_config  # pydantic: only for commands that read the config

    config = load_config(config_file)
    return config, config.store_url(db_url)
