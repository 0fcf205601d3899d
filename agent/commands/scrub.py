"""`phiwall scrub INPUT... -o OUTPUT`: de-identify audio, video and images on this workstation.

One line per file on stdout: `scrubbed SOURCE -> TARGET: what was done`, or `skipped SOURCE:
why` for files in a folder that are not media. Exit statuses (agent.errors): 0 when every
input was scrubbed or skipped as not media; 6 when an input cannot be read; 4 when a file named
explicitly is not media or a file could not be decoded (the others are still done); 2 for a bad
option or when the face/pose model package is not installed; 3 when the store cannot be used.
Nothing is downloaded. Each output's lineage (source asset, methods, who, when: hashes and
settings, never content) is recorded in the store and the output is enrolled as a derivative
(agent.scrub.lineage), so the proxy can apply the policy's `deidentified` action to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy.exc import SQLAlchemyError

from agent.commands.inputs import unreadable_reason
from agent.commands.options import config_option, db_option
from agent.errors import InputError, MediaError, PhiWallError, StoreError
from agent.scrub.options import FACE_MODES, PEOPLE_MODES, VOICE_METHODS, VOICE_MODES, ScrubOptions, ScrubResult

if TYPE_CHECKING:
    from agent.scrub.lineage import LineageRecord

Recorder = Callable[[Path, Path, ScrubResult, float], "LineageRecord"]


@click.command(name="scrub")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output file or folder.")
@click.option(
    "--voice",
    type=click.Choice(VOICE_MODES),
    default="anonymise",
    show_default=True,
    help="anonymise: shift the voice (see --voice-method), keep the words; mute: silence; keep: leave the voice.",
)
@click.option(
    "--voice-method",
    type=click.Choice(VOICE_METHODS),
    default="target",
    show_default=True,
    help="how anonymise changes the voice: target (pitch, formants and spectrum moved onto one common voice), "
    "mcadams (LPC poles shifted at random) or psola (pitch and formants shifted at random).",
)
@click.option(
    "--faces",
    type=click.Choice(FACE_MODES),
    default="blur",
    show_default=True,
    help="blur or mask every detected face in every frame; keep: leave faces.",
)
@click.option(
    "--people",
    type=click.Choice(PEOPLE_MODES),
    default="keep",
    show_default=True,
    help="skeleton: redraw each frame as the pose skeleton on a blank background.",
)
@db_option
@config_option
def scrub(
    inputs: tuple[Path, ...],
    output: Path,
    voice: str,
    voice_method: str,
    faces: str,
    people: str,
    db_url: str | None,
    config_file: Path | None,
) -> int:
    """De-identify audio, video and images (files or folders) into OUTPUT, offline.

    Every output is recorded with its lineage and enrolled as a de-identified derivative.
    """
    from agent.commands.media import _open
    from agent.media import MediaService
    from agent.scrub.lineage import IndexOnFirstMatch, record_output
    from agent.scrub.models import require_models

    options = ScrubOptions(voice=voice, voice_method=voice_method, faces=faces, people=people)  # type: ignore[arg-type]
    for path in inputs:
        reason = unreadable_reason(path, folders_ok=True)
        if reason is not None:
            raise InputError(f"{path}: {reason}")
    if options.needs_models:
        require_models()
    store, ident = _open(config_file, db_url, create=True)
    try:
        media = IndexOnFirstMatch(MediaService(store, agent_id=ident, preload=False))

        def record(source: Path, target: Path, result: ScrubResult, seconds: float) -> LineageRecord:
            return record_output(
                store,
                media,
                source=source,
                target=target,
                options=options,
                result=result,
                scrub_s=seconds,
                agent_id=ident,
            )

        return _run(inputs, output, options, record)
    finally:
        store.dispose()


def _run(inputs: tuple[Path, ...], output: Path, options: ScrubOptions, record: Recorder) -> int:
    """Scrub every planned job, recording each output's lineage; returns the exit status."""
    from agent.scrub.files import scrub_file
    from agent.scrub.tree import plan

    status = 0
    for job in plan(inputs, output):
        if job.target is None:
            if job.source in inputs:
                click.echo(f"phiwall: error: {job.source}: {job.skip_reason}", err=True)
                status = max(status, MediaError.exit_code)
            else:
                click.echo(f"skipped {job.source}: {job.skip_reason}")
            continue
        started = time.perf_counter()
        try:
            result = scrub_file(job.source, job.target, options)
        except PhiWallError as err:
            click.echo(f"phiwall: error: {err}", err=True)
            status = max(status, err.exit_code)
            continue
        line = f"scrubbed {job.source} -> {job.target}: {result.describe()}"
        try:
            lineage = record(job.source, job.target, result, time.perf_counter() - started)
        except (SQLAlchemyError, OSError) as exc:
            click.echo(line)
            click.echo(f"phiwall: error: {job.target}: written, but its lineage was not recorded ({exc})", err=True)
            status = max(status, StoreError.exit_code)
            continue
        click.echo(f"{line}; {lineage.describe()}")
    return status
