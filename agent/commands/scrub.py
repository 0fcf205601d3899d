"""`phiwall scrub INPUT... -o OUTPUT`: de-identify audio, video and images on this workstation.

One line per file on stdout: `scrubbed SOURCE -> TARGET: what was done`, or `skipped SOURCE:
why` for files in a folder that are not media. Exit statuses (agent.errors): 0 when every
input was scrubbed or skipped as not media; 6 when an input cannot be read; 4 when a file named
explicitly is not media or a file could not be decoded (the others are still done); 2 for a bad
option or when the face/pose model package is not installed. Nothing is downloaded; nothing is
stored or logged about the content.
"""

from __future__ import annotations

from pathlib import Path

import click

from agent.commands.inputs import unreadable_reason
from agent.errors import InputError, MediaError, PhiWallError
from agent.scrub.options import FACE_MODES, PEOPLE_MODES, VOICE_MODES, ScrubOptions


@click.command(name="scrub")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output file or folder.")
@click.option(
    "--voice",
    type=click.Choice(VOICE_MODES),
    default="anonymise",
    show_default=True,
    help="anonymise: shift formants, keep the words; mute: silence; keep: leave the voice.",
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
def scrub(inputs: tuple[Path, ...], output: Path, voice: str, faces: str, people: str) -> int:
    """De-identify audio, video and images (files or folders) into OUTPUT, offline."""
    from agent.scrub.files import scrub_file
    from agent.scrub.models import require_models
    from agent.scrub.tree import plan

    options = ScrubOptions(voice=voice, faces=faces, people=people)  # type: ignore[arg-type]
    for path in inputs:
        reason = unreadable_reason(path, folders_ok=True)
        if reason is not None:
            raise InputError(f"{path}: {reason}")
    if options.needs_models:
        require_models()
    status = 0
    for job in plan(inputs, output):
        if job.target is None:
            if job.source in inputs:
                click.echo(f"phiwall: error: {job.source}: {job.skip_reason}", err=True)
                status = max(status, MediaError.exit_code)
            else:
                click.echo(f"skipped {job.source}: {job.skip_reason}")
            continue
        try:
            result = scrub_file(job.source, job.target, options)
        except PhiWallError as err:
            click.echo(f"phiwall: error: {err}", err=True)
            status = max(status, err.exit_code)
            continue
        click.echo(f"scrubbed {job.source} -> {job.target}: {result.describe()}")
    return status
