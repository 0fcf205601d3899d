"""`phiwall config`: write an example file, show the effective settings, print the path."""

from __future__ import annotations

import json
from pathlib import Path

import click

from agent.commands.options import config_option
from agent.config import EXAMPLE_CONFIG, config_path, load_config
from agent.errors import ConfigError


@click.group()
def config() -> None:
    """Create, show or locate the configuration file."""


@config.command()
@config_option
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(config_file: Path | None, force: bool) -> None:
    """Write a commented example configuration (all keys at their defaults)."""
    path, _ = config_path(config_file)
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists", hint="use --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    tmp.replace(path)
    click.echo(f"wrote {path}")


@config.command()
@config_option
def show(config_file: Path | None) -> None:
    """Print the effective configuration as JSON (after validation and defaults)."""
    cfg = load_config(config_file)
    data = cfg.model_dump(mode="json")
    data["_source"] = str(cfg.source) if cfg.source else "(embedded defaults)"
    data["_data_dir"] = str(cfg.data_dir)
    click.echo(json.dumps(data, indent=2))


@config.command()
@config_option
def path(config_file: Path | None) -> None:
    """Print which configuration file is used."""
    chosen, _ = config_path(config_file)
    click.echo(str(chosen))
