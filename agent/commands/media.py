"""`phiwall enroll` and `phiwall match`: thin command-line layers over `agent.media.MediaService`.

Contract (DESIGN.md §4):
- `enroll PATH...` fingerprints files and folders (recursively); exit 0 when every readable
  media file was enrolled (or already was), non-zero with a message per failure otherwise.
- `match --json PATH...` prints, for each PATH in order, one JSON object on its own line:
  {"file": PATH, "match": null | {"asset", "path", "kind", "score", "offset_s"}, "ms": N}
  with an "error" string when the input could not be inspected. Never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from agent.commands.options import config_option, db_option, resolve
from agent.errors import DataDirError, PhiWallError
from agent.store import Store, open_store


def _open(config_file: Path | None, db_url: str | None) -> tuple[Store, str]:
    from agent.identity import agent_id

    config, url = resolve(config_file, db_url)
    store = open_store(url)
    try:
        ident = agent_id(config)
    except (DataDirError, OSError):
        ident = ""
    return store, ident


def _expand(paths: tuple[Path, ...]) -> Iterator[tuple[Path, bool]]:
    """(file, named explicitly) for every file under the given paths, folders recursively."""
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    yield Path(root) / name, False
        else:
            yield path, True


@click.command()
@db_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file instead of text.")
@click.option(
    "--jobs", type=click.IntRange(1, 32), default=None, help="Files fingerprinted at once (default: CPUs, max 4)."
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def enroll(
    db_url: str | None, config_file: Path | None, as_json: bool, jobs: int | None, paths: tuple[Path, ...]
) -> None:
    """Fingerprint clinical recordings (files or folders) so uploads of them are recognised.

    The same content enrolled twice is a no-op. Files in folders that are not audio, video
    or images are skipped; a named file that is not media is an error.
    """
    from agent.media import MediaService, sniff_path
    from agent.media.model import EnrollOutcome

    store, ident = _open(config_file, db_url)
    try:
        service = MediaService(store, agent_id=ident)
        files = list(_expand(paths))
        skipped = 0
        todo: list[Path] = []
        early: dict[Path, EnrollOutcome] = {}
        for path, explicit in files:
            if not explicit:
                try:
                    if sniff_path(path).kind is None:
                        skipped += 1
                        continue
                except PhiWallError:
                    pass  # unreadable: let enrolment report it
            if not path.exists():
                early[path] = EnrollOutcome(None, str(path), None, False, "no such file or folder")
                continue
            todo.append(path)
        workers = jobs or min(4, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = dict(zip(todo, pool.map(service.enroll_path, todo), strict=True))
        results.update(early)
        counts = {"new": 0, "known": 0, "failed": 0}
        for path, _ in files:
            outcome = results.get(path)
            if outcome is None:
                continue
            if outcome.error:
                counts["failed"] += 1
            elif outcome.new:
                counts["new"] += 1
            else:
                counts["known"] += 1
            _report_enrolment(outcome, as_json)
        summary = (
            f"enrolled {counts['new']} new, {counts['known']} already enrolled, "
            f"{skipped} skipped (not media), {counts['failed']} failed"
        )
        click.echo(summary, err=True)
    finally:
        store.dispose()
    if counts["failed"]:
        raise PhiWallError(f"{counts['failed']} file(s) could not be enrolled (see the messages above)")


def _report_enrolment(outcome: Any, as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {
                    "file": outcome.path,
                    "asset": outcome.asset_id,
                    "kind": outcome.kind,
                    "new": outcome.new,
                    **({"error": outcome.error} if outcome.error else {}),
                }
            )
        )
    elif outcome.error:
        click.echo(f"error     {outcome.path}: {outcome.error}", err=True)
    else:
        state = "enrolled" if outcome.new else "known   "
        click.echo(f"{state}  {outcome.asset_id[:16]}  {outcome.kind or '?':5}  {outcome.path}")


@click.command()
@db_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per PATH (the documented contract).")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def match(db_url: str | None, config_file: Path | None, as_json: bool, paths: tuple[Path, ...]) -> None:
    """Check files against the enrolled clinical media, in the order given.

    An image is compared with enrolled video frames. Unreadable input is reported with an
    error, never a crash.
    """
    from agent.media import MediaService

    store, ident = _open(config_file, db_url)
    try:
        service = MediaService(store, agent_id=ident)
        for path in paths:
            outcome = service.match_path(path)
            error = outcome.error
            if error is None and outcome.media_kind is None:
                error = f"not audio, video or an image ({outcome.mime})"
            found = outcome.match
            answer: dict[str, Any] = {
                "file": str(path),
                "match": None
                if found is None
                else {
                    "asset": found.asset_id,
                    "path": found.path,
                    "kind": found.kind,
                    "score": found.score,
                    "offset_s": found.offset_s,
                },
                "ms": outcome.ms,
            }
            if error:
                answer["error"] = error
            if as_json:
                click.echo(json.dumps(answer))
            elif found is not None:
                where = f"{found.kind}, score {found.score:.3f}, at {found.offset_s:.1f} s"
                click.echo(f"MATCH  {path}  ->  {found.path}  ({where})")
            else:
                click.echo(f"none   {path}" + (f"  ({error})" if error else ""))
            sys.stdout.flush()
    finally:
        store.dispose()
