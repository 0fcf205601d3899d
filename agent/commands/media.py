"""`phiwall enroll` and `phiwall match`: thin command-line layers over `agent.media.MediaService`.

Contract (docs/detection.md; exit statuses in docs/configuration.md):
- `enroll PATH...` fingerprints files and folders (recursively); exit 0 when every readable
  media file was enrolled (or already was), non-zero with a message per failure otherwise.
- `match --json PATH...` prints, for each PATH in order, one JSON object on its own line:
  {"file": PATH, "match": null | {"asset", "path", "kind", "score", "offset_s", "method"}, "ms": N}
  with an "error" string when the input could not be inspected. Never a traceback. When the
  file is enrolled media but several assets fit it equally (pixel-identical pictures, no
  sound), "match" is null and "ambiguous": {"assets": [{"asset", "path"}...], "kind",
  "score", "method"} lists them; the proxy blocks such an upload.

Exit statuses (agent.errors): 0 when every PATH was read (matched or not); 6 when a PATH could
not be read (missing, permission denied, a FIFO or device, a folder given to `match`); 4 when
a PATH was read but is not media or could not be decoded; 3 when the store does not exist
(only `enroll` creates one). `enroll` stores absolute paths, and this workstation's host name
in the store's agent table (the asset's `origin_agent_id` names it).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agent.commands.inputs import unreadable_reason
from agent.commands.options import config_option, db_option, resolve
from agent.errors import DataDirError, InputError, MediaError
from agent.store import Store, open_store

if TYPE_CHECKING:
    from agent.media import MediaService
    from agent.media.model import MediaMatch


def _open(config_file: Path | None, db_url: str | None, *, create: bool) -> tuple[Store, str]:
    from agent.identity import agent_id

    config, url = resolve(config_file, db_url)
    store = open_store(url, create=create)
    try:
        ident = agent_id(config)
    except (DataDirError, OSError):
        ident = ""
    return store, ident


def _register_host(store: Store, ident: str) -> None:
    """Record which host this agent id is, so an analyst knows where an asset was enrolled."""
    from agent.identity import host_facts
    from agent.store import Agent

    if not ident:
        return
    facts = host_facts()
    with store.session() as session:
        row = session.get(Agent, ident)
        if row is None:
            session.add(Agent(id=ident, hostname=facts["hostname"], os=facts["os"]))
        elif row.hostname != facts["hostname"]:
            row.hostname = facts["hostname"]
            session.add(row)
        else:
            return
        session.commit()


def _absolute(path: Path) -> Path:
    """The absolute path as typed (`..` removed, symlinks kept): what an analyst can find."""
    return Path(os.path.abspath(path))


def _expand(paths: tuple[Path, ...]) -> Iterator[tuple[Path, bool]]:
    """(absolute file, named explicitly) for every file under the given paths, folders recursively."""
    for path in paths:
        path = _absolute(path)
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

    store, ident = _open(config_file, db_url, create=True)
    try:
        _register_host(store, ident)
        service = MediaService(store, agent_id=ident)
        files = list(_expand(paths))
        skipped = 0
        todo: list[Path] = []
        early: dict[Path, EnrollOutcome] = {}
        unreadable = 0
        for path, explicit in files:
            reason = unreadable_reason(path, folders_ok=explicit)
            if reason is not None and not explicit and reason.startswith("not a regular file"):
                skipped += 1  # a FIFO or socket inside a folder: not a recording
                continue
            if reason is not None:
                early[path] = EnrollOutcome(None, str(path), None, False, reason)
                unreadable += 1
                continue
            if not explicit:
                try:
                    if sniff_path(path).kind is None:
                        skipped += 1
                        continue
                except MediaError:
                    pass  # let enrolment report it
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
    if unreadable:
        raise InputError(
            f"{counts['failed']} file(s) could not be enrolled ({unreadable} could not be read; see the messages above)"
        )
    if counts["failed"]:
        raise MediaError(f"{counts['failed']} file(s) could not be enrolled (see the messages above)")


def _ambiguous_answer(found: MediaMatch, service: MediaService) -> dict[str, Any]:
    """An upload that is enrolled media but could be any of several assets (pixel-identical
    pictures, no sound): `match` stays null, since naming one would be a guess, and every
    candidate is listed. The proxy blocks such an upload all the same."""
    assets = [found.asset_id, *found.alternatives]
    return {
        "assets": [{"asset": a, "path": service.asset_path(a) or ""} for a in assets],
        "kind": found.kind,
        "score": found.score,
        "method": found.method,
    }


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

    store, ident = _open(config_file, db_url, create=False)
    unreadable = failed = 0
    try:
        service = MediaService(store, agent_id=ident)
        for path in paths:
            reason = unreadable_reason(path)
            if reason is not None:
                unreadable += 1
                answer: dict[str, Any] = {"file": str(path), "match": None, "ms": 0.0, "error": reason}
                if as_json:
                    click.echo(json.dumps(answer))
                else:
                    click.echo(f"error  {path}  ({reason})")
                sys.stdout.flush()
                continue
            outcome = service.match_path(path)
            error = outcome.error
            if error is None and outcome.media_kind is None:
                error = f"not audio, video or an image ({outcome.mime})"
            if error:
                failed += 1
            found = outcome.match
            answer = {"file": str(path), "match": None, "ms": outcome.ms}
            if found is not None and found.ambiguous:
                answer["ambiguous"] = _ambiguous_answer(found, service)
            elif found is not None:
                answer["match"] = {
                    "asset": found.asset_id,
                    "path": found.path,
                    "kind": found.kind,
                    "score": found.score,
                    "offset_s": found.offset_s,
                    "method": found.method,
                }
            if error:
                answer["error"] = error
            if as_json:
                click.echo(json.dumps(answer))
            elif found is not None and found.ambiguous:
                paths_of = ", ".join(entry["path"] for entry in answer["ambiguous"]["assets"])
                click.echo(f"AMBIGUOUS  {path}  ->  one of {paths_of}  ({found.kind}, score {found.score:.3f})")
            elif found is not None:
                where = f"{found.kind}, score {found.score:.3f}, at {found.offset_s:.1f} s"
                click.echo(f"MATCH  {path}  ->  {found.path}  ({where})")
            elif error:
                click.echo(f"error  {path}  ({error})")
            else:
                click.echo(f"none   {path}")
            sys.stdout.flush()
    finally:
        store.dispose()
    if unreadable:
        raise InputError(f"{unreadable} of {len(paths)} path(s) could not be read")
    if failed:
        raise MediaError(f"{failed} of {len(paths)} file(s) are not media or could not be decoded")
