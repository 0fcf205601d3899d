"""Lineage of scrub outputs: which enrolled asset a de-identified copy came from, and how it was made.

Every `phiwall scrub` output gets one `scrub_lineage` row (hashes, sizes, settings, who and
when: never media, never a transcript, never the McAdams coefficient drawn for the file) and is
enrolled with its own fingerprint as a *derivative* asset (`media_asset.lineage_id` names the
row), so the proxy can tell the sanctioned copy from its source and apply the policy's
`deidentified` action (agent.policy.derived). The input is looked up by SHA-256 first, then by
fingerprint; an input that is not enrolled is still recorded, with no source asset.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import col, select

from agent import __version__
from agent.media.model import EnrollOutcome, MatchOutcome
from agent.scrub.frames import BLUR_CELLS, FACE_MARGIN
from agent.scrub.options import ScrubOptions, ScrubResult
from agent.scrub.psola import FORMANT_RANGE, PITCH_RANGE
from agent.scrub.smoothing import PERSIST_FRAMES
from agent.scrub.target import Target
from agent.scrub.voice import ALPHA_RANGE
from agent.store import FleetOutbox, MediaAsset, ScrubLineage, Store

log = logging.getLogger(__name__)

HASH_CHUNK = 1 << 20


class Fingerprints(Protocol):
    """The part of `agent.media.MediaService` lineage needs (enrol the output, match the input)."""

    def enroll_path(self, path: Path) -> EnrollOutcome: ...

    def match_path(self, path: Path) -> MatchOutcome: ...


class IndexedFingerprints(Fingerprints, Protocol):
    def refresh(self) -> int: ...


class IndexOnFirstMatch:
    """Loads the enrolled index only when an input must be matched by fingerprint.

    A scrub input is usually found by its SHA-256 (one store read), and enrolling an output needs
    no index: a workstation sharing a fleet's prints would otherwise read them all at every scrub.
    """

    def __init__(self, service: IndexedFingerprints) -> None:
        self.service = service
        self.loaded = False

    def enroll_path(self, path: Path) -> EnrollOutcome:
        return self.service.enroll_path(path)

    def match_path(self, path: Path) -> MatchOutcome:
        if not self.loaded:
            self.service.refresh()
            self.loaded = True
        return self.service.match_path(path)


@dataclass(frozen=True)
class SourceAsset:
    """The enrolled asset an input is, and how that was found."""

    asset_id: str
    how: str
    """"sha256" (the same bytes) or "fingerprint" (a recognised copy)."""
    score: float | None = None


@dataclass(frozen=True)
class LineageRecord:
    """What was recorded for one output (for the command's report line)."""

    lineage_id: int
    source: SourceAsset | None
    derivative_asset_id: str | None
    enrol_error: str | None

    def describe(self) -> str:
        """`lineage 12, source 3f0c9a1b2c3d (sha256), derivative 9ab0...`: ids and hashes only."""
        source = f"source {self.source.asset_id[:12]} ({self.source.how})" if self.source else "source not enrolled"
        if self.derivative_asset_id is not None:
            derivative = f"enrolled as derivative {self.derivative_asset_id[:12]}"
        else:
            derivative = f"not enrolled as a derivative ({self.enrol_error})"
        return f"lineage {self.lineage_id}, {source}, {derivative}"


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            size += len(chunk)
            digest.update(chunk)
    return digest.hexdigest(), size


def os_user() -> str:
    try:
        return getpass.getuser()[:128]
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (containers)
        return ""


def methods_of(options: ScrubOptions, result: ScrubResult) -> dict[str, Any]:
    """The methods and settings an output was made with; the per-file draw (alpha, shift) is left out."""
    methods: dict[str, Any] = {"voice": {"mode": options.voice}, "metadata": "stripped", "done": list(result.actions)}
    if options.voice == "anonymise" and options.voice_method == "mcadams":
        methods["voice"].update(method="mcadams-lpc", alpha_range=list(ALPHA_RANGE))
    elif options.voice == "anonymise" and options.voice_method == "target":
        target = Target()
        methods["voice"].update(
            method="target-voice",
            median_f0=target.median_f0,
            f0_spread=target.f0_spread,
            formant_scale=target.formant_scale,
            equalise=target.equalise,
            jitter=target.jitter,
        )
    elif options.voice == "anonymise":
        methods["voice"].update(
            method="psola-change-gender", formant_range=list(FORMANT_RANGE), pitch_ratio_range=list(PITCH_RANGE)
        )
    if options.people == "skeleton":
        methods["people"] = {"mode": "skeleton", "model": "blazepose-full"}
    else:
        methods["people"] = {"mode": "keep"}
        faces: dict[str, Any] = {"mode": options.faces}
        if options.faces != "keep":
            faces.update(
                model="blazeface",
                passes="full-range + short-range, full-range on 2 tiles",
                margin=FACE_MARGIN,
                smoothing_frames=PERSIST_FRAMES,
            )
            if options.faces == "blur":
                faces["blur_cells"] = BLUR_CELLS
        methods["faces"] = faces
    return methods


def identifying_kept(kind: str, options: ScrubOptions) -> list[str]:
    """What identifies a person and was left as it was (`--voice keep`, `--faces keep`).

    Such an output is recorded but not enrolled as a derivative: a re-encode with the voice or
    the faces kept is not a de-identified copy, and must not pass where copies are accepted
    (it is still recognised as its source by fingerprint). A video counts as having a voice
    even if it has no audio track: the conservative reading.
    """
    kept: list[str] = []
    if options.voice == "keep" and kind in ("audio", "video"):
        kept.append("voice")
    if options.faces == "keep" and options.people != "skeleton" and kind in ("video", "image"):
        kept.append("faces")
    return kept


def find_source(store: Store, media: Fingerprints, path: Path, digest: str) -> SourceAsset | None:
    """The enrolled (not forgotten) asset `path` is: the same bytes, else a fingerprint match."""
    with store.session() as session:
        row = session.get(MediaAsset, digest)
        if row is not None and row.deleted_at is None:
            return SourceAsset(digest, "sha256")
    outcome = media.match_path(path)
    if outcome.match is not None:
        return SourceAsset(outcome.match.asset_id, "fingerprint", outcome.match.score)
    return None


def record_output(
    store: Store,
    media: Fingerprints,
    *,
    source: Path,
    target: Path,
    options: ScrubOptions,
    result: ScrubResult,
    scrub_s: float,
    agent_id: str = "",
) -> LineageRecord:
    """Record the lineage of `target` (the scrub of `source`) and enrol it as a derivative."""
    source_sha, _ = sha256_file(source)
    found = find_source(store, media, source, source_sha)
    output_sha, size = sha256_file(target)
    kind = result.kind.split(" ", 1)[0][:8]
    kept = identifying_kept(kind, options)
    if kept:
        enrol_error: str | None = f"not de-identified: {' and '.join(kept)} kept"
        derivative_id = None
    else:
        enrolled = media.enroll_path(target)
        enrol_error = enrolled.error
        derivative_id = enrolled.asset_id if enrolled.error is None else None
    row = ScrubLineage(
        agent_id=agent_id,
        user=os_user(),
        source_sha256=source_sha,
        source_asset_id=found.asset_id if found else None,
        source_match=found.how if found else None,
        source_score=found.score if found else None,
        output_sha256=output_sha,
        output_path=str(target.resolve()),
        derivative_asset_id=derivative_id,
        kind=kind,
        size=size,
        duration_s=result.seconds,
        scrub_s=round(scrub_s, 3),
        methods=json.dumps(methods_of(options, result), sort_keys=True),
        tool_version=__version__,
    )
    with store.session() as session:
        session.add(row)
        session.flush()
        assert row.id is not None
        lineage_id = row.id
        if derivative_id is not None:
            session.execute(update(MediaAsset).where(col(MediaAsset.id) == derivative_id).values(lineage_id=lineage_id))
            # A fleet sync may have sent the asset between enrolment and now: send it again.
            session.add(FleetOutbox(kind="asset", ref=derivative_id))
        session.commit()
    if enrol_error is not None:
        log.info("scrub output %s not enrolled as a derivative: %s", output_sha[:12], enrol_error)
    return LineageRecord(lineage_id, found, derivative_id, enrol_error)


def lineage_of(store: Store, lineage_id: int) -> ScrubLineage | None:
    with store.session() as session:
        return session.get(ScrubLineage, lineage_id)


def lineages(store: Store, *, limit: int = 500) -> list[ScrubLineage]:
    """The latest scrub records, newest first (the console's Scrubbed report)."""
    with store.session() as session:
        query = select(ScrubLineage).order_by(col(ScrubLineage.time).desc(), col(ScrubLineage.id).desc()).limit(limit)
        return list(session.exec(query).all())
