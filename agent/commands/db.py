"""`phiwall db`: schema status and upgrades (deployed fleets upgrade with this)."""

from __future__ import annotations

from pathlib import Path

import click

from agent.commands.options import config_option, db_option, resolve
from agent.store import (
    StoreNotFound,
    check_connection,
    current_revision,
    head_revision,
    make_engine,
    open_store,
    parse_url,
    redact,
    sqlite_path,
    text_index,
)


@click.group()
def db() -> None:
    """Show or upgrade the store schema."""


@db.command()
@db_option
@config_option
def status(db_url: str | None, config_file: Path | None) -> None:
    """Print the store URL (password hidden), its schema revision and the one needed."""
    _, url = resolve(config_file, db_url)
    path = sqlite_path(parse_url(url))
    if path is not None and not path.exists():
        raise StoreNotFound(f"store {redact(url)} does not exist", hint="run `phiwall db upgrade` to create it")
    engine = make_engine(url)
    try:
        check_connection(engine, url)
        with engine.connect() as conn:
            current = current_revision(conn)
            indexed = current is not None and text_index.has_text_index(conn)
    finally:
        engine.dispose()
    head = head_revision()
    click.echo(f"store:    {redact(url)}")
    click.echo(f"schema:   {current or '(empty)'}")
    click.echo(f"needed:   {head}")
    click.echo("status:   " + ("up to date" if current == head else "needs `phiwall db upgrade`"))
    click.echo("words:    " + ("trigram index" if indexed else "no text index: the console's word search scans"))


@db.command()
@db_option
@config_option
def upgrade(db_url: str | None, config_file: Path | None) -> None:
    """Create the store or migrate it to this version's schema (idempotent)."""
    _, url = resolve(config_file, db_url)
    store = open_store(url, migrate=True)
    store.dispose()
    click.echo(f"store {redact(url)} is at schema {head_revision()}")


@db.command()
@db_option
@config_option
def reindex(db_url: str | None, config_file: Path | None) -> None:
    """Rebuild the console's word-search index from the events (after VACUUM or a restore)."""
    _, url = resolve(config_file, db_url)
    store = open_store(url, migrate=False)
    try:
        with store.engine.begin() as conn:
            rebuilt = text_index.rebuild(conn)
    finally:
        store.dispose()
    if rebuilt:
        click.echo(f"store {redact(url)}: word-search index rebuilt and checked")
    else:
        click.echo(f"store {redact(url)} has no word-search index (SQLite without FTS5 trigram, or no pg_trgm)")
