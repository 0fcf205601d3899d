"""Which output each input goes to: file -> file, folder -> folder with the same tree."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agent.errors import InputError, MediaError
from agent.scrub.files import kind_of, output_suffix


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path | None
    """None when the source is not media (reported and skipped)."""
    skip_reason: str = ""


def plan(inputs: tuple[Path, ...], output: Path) -> Iterator[Job]:
    """The jobs for `inputs`; a single file may go to a file path, anything else to a folder.

    Refuses to write inside an input folder or over an input, so a scrub never destroys the
    original it was given.
    """
    single_file = len(inputs) == 1 and inputs[0].is_file() and not output.is_dir()
    resolved_out = output.resolve()
    for source in inputs:
        if source.resolve() == resolved_out:
            raise InputError(f"{output}: the output is the input; choose another path")
        if source.is_dir() and resolved_out.is_relative_to(source.resolve()):
            raise InputError(f"{output}: the output is inside the input folder {source}; choose another path")
    for source in inputs:
        if source.is_dir():
            base = output if len(inputs) == 1 else output / source.resolve().name
            for root, dirs, files in os.walk(source):
                dirs.sort()
                for name in sorted(files):
                    path = Path(root) / name
                    yield _job(path, base / path.relative_to(source))
        elif single_file:
            yield Job(source, output)
        else:
            yield _job(source, output / source.name)


def _job(source: Path, target: Path) -> Job:
    try:
        kind = kind_of(source)
    except MediaError as exc:
        return Job(source, None, skip_reason=str(exc).removeprefix(f"{source}: "))
    return Job(source, target.with_suffix(output_suffix(source, kind)))
