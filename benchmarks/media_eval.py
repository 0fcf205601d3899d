"""Shared by the media benchmarks: enrol a corpus into a fresh store and collect, for every
query and negative, the candidates the index proposes with their decision features."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from media_corpus import Item  # noqa: E402

from agent.media import MediaService  # noqa: E402
from agent.media.decision import Calibration, feature_vector  # noqa: E402
from agent.media.fingerprint import QUERY_FPS, fingerprint  # noqa: E402
from agent.media.index import search_audio, search_image, search_video  # noqa: E402
from agent.media.model import MediaLimits  # noqa: E402
from agent.store import open_store  # noqa: E402


@dataclass(frozen=True)
class Candidate:
    """One (query, enrolled asset) pair proposed by the index."""

    query: str
    asset: str  # corpus path of the enrolled asset proposed
    transform: str  # the query's transformation, or "negative:<note>"
    kind: str  # "audio" | "voice" | "video" | "image": which model scores it
    features: list[float]
    label: str  # "source" (the asset the query was made from), "other" (another asset), "negative" (never enrolled)
    vetoed: bool = False  # video candidates the query's own sound track contradicts (never scored)
    lookalike: bool = False  # asset whose pictures are the probe's own source pictures (see lookalike_pairs)

    @property
    def positive(self) -> bool:
        return self.label == "source"


ENROL_CPU: dict[str, list[float]] = {}  # kind -> [media seconds, CPU seconds] of the last enrolment


@contextmanager
def enrolled(
    root: Path, items: list[Item], calibration: Calibration | None = None
) -> Iterator[tuple[MediaService, float, float]]:
    """A MediaService over a fresh SQLite store with the corpus originals enrolled.
    Yields (service, enrolment seconds, enrolled media seconds)."""
    with tempfile.TemporaryDirectory(prefix="phiwall-bench-") as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db")
        try:
            service = MediaService(store, calibration=calibration)
            started = time.perf_counter()
            media_s = 0.0
            for it in items:
                if it.role == "original":
                    cpu = time.process_time()
                    outcome = service.enroll_path(root / it.path)
                    if outcome.error:
                        raise SystemExit(f"enrolment of {it.path} failed: {outcome.error}")
                    info = service.index.state.assets.get(outcome.asset_id or "")
                    media_s += info.duration_s if info else 0.0
                    per_kind = ENROL_CPU.setdefault(it.kind, [0.0, 0.0])
                    per_kind[0] += info.duration_s if info else 0.0
                    per_kind[1] += time.process_time() - cpu
            yield service, time.perf_counter() - started, media_s
        finally:
            store.dispose()


def asset_paths(service: MediaService, root: Path) -> dict[str, str]:
    """asset id -> corpus-relative path."""
    return {a: str(Path(i.path).relative_to(root)) for a, i in service.index.state.assets.items()}


RELAXED_DISTANCE = 22  # calibration looks further than the service (14 bits) ...
RELAXED_CHROMA = 0.6  # ... and lets more colour disagreement through, to see what negatives look like


def candidates(service: MediaService, root: Path, items: list[Item], *, relaxed: bool = True) -> list[Candidate]:
    """Every candidate the index proposes for every query and negative (not only the top ones).

    With `relaxed`, picture candidates are gathered with looser filters than the service
    uses, so the decision is fitted on a populated range of negatives, not only on the few
    that pass the service's own filters (those it would score)."""
    names = asset_paths(service, root)
    state = service.index.state
    cal = service.calibration
    distance = RELAXED_DISTANCE if relaxed else 14
    colour = RELAXED_CHROMA if relaxed else cal.min_chroma
    twins = lookalike_pairs(service, root, items)
    out: list[Candidate] = []
    for it in items:
        if it.role == "original":
            continue
        try:
            prints = fingerprint(root / it.path, MediaLimits(), frame_fps=QUERY_FPS)
        except Exception:  # undecodable probes are the bad-input tests' business
            continue
        transform = it.transform if it.role == "query" else f"negative:{it.note}"

        same_source = str(it.extra.get("same_source_as", ""))

        def label(asset_id: str, it: Item = it) -> str:
            if it.role == "negative":
                return "negative"
            return "source" if names[asset_id] == it.source else "other"

        audio = prints.audio if prints.audio is not None and prints.audio.hashes.size >= 8 else None
        found = search_audio(state, audio) if audio is not None else []
        for c in found:
            for kind in ("audio", "voice"):  # the two audio models see the same candidates
                out.append(
                    Candidate(it.path, names[c.asset_id], transform, kind, feature_vector(kind, c), label(c.asset_id))
                )
        if prints.frames is not None and prints.frames.count:
            if prints.kind == "image":
                for f in search_image(state, prints.frames, colour, distance):
                    twin = (
                        frozenset((names[f.asset_id], it.source or same_source)) in twins
                        or names[f.asset_id] == same_source
                    )
                    out.append(
                        Candidate(
                            it.path,
                            names[f.asset_id],
                            transform,
                            "image",
                            feature_vector("image", f),
                            label(f.asset_id),
                            False,
                            twin,
                        )
                    )
            elif prints.kind == "video":
                for f in search_video(state, prints.frames, colour, distance):
                    vetoed = service._sound_contradicts(state, audio, f.asset_id, found)
                    twin = (
                        frozenset((names[f.asset_id], it.source or same_source)) in twins
                        or names[f.asset_id] == same_source
                    )
                    out.append(
                        Candidate(
                            it.path,
                            names[f.asset_id],
                            transform,
                            "video",
                            feature_vector("video", f),
                            label(f.asset_id),
                            vetoed,
                            twin,
                        )
                    )
    return out


def lookalike_pairs(service: MediaService, root: Path, items: list[Item], min_rate: float = 0.3) -> set[frozenset[str]]:
    """Pairs of enrolled videos whose pictures match each other (made from one synthetic
    source): no decision on pictures can separate them, so they are ranking cases."""
    names = asset_paths(service, root)
    state = service.index.state
    pairs: set[frozenset[str]] = set()
    for it in items:
        if it.role != "original" or it.kind != "video":
            continue
        prints = fingerprint(root / it.path, MediaLimits(), frame_fps=QUERY_FPS)
        if prints.frames is None:
            continue
        for f in search_video(state, prints.frames, service.calibration.min_chroma):
            if names[f.asset_id] != it.path and f.agree / max(1, f.query_frames) >= min_rate:
                pairs.add(frozenset((names[f.asset_id], it.path)))
    return pairs
