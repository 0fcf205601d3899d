"""Reading and writing enrolled assets and their prints in the store (media_asset, media_print).

Loading is built for start-up speed: two plain SELECTs (assets, then print blobs streamed in
batches), no ORM objects per print, blobs decoded straight into numpy arrays.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import delete, func, or_, update
from sqlalchemy import select as sa_select  # more columns than sqlmodel's select types
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import col, select

from agent.media import printformat
from agent.media.fingerprint import AudioPrint, FramePrint, MediaPrints
from agent.media.index import AssetInfo
from agent.media.keypoints import KeypointPrint
from agent.store import MediaAsset, MediaPrint, Store, utcnow

log = logging.getLogger(__name__)

LOAD_BATCH = 256
SAVE_ATTEMPTS = 6


@dataclass(frozen=True)
class LoadedAsset:
    info: AssetInfo
    audio: AudioPrint | None
    frames: FramePrint | None


@dataclass(frozen=True)
class AssetRecord:
    asset_id: str
    deleted: bool


def find(store: Store, asset_id: str) -> AssetRecord | None:
    with store.session() as session:
        row = session.execute(
            select(col(MediaAsset.id), col(MediaAsset.deleted_at)).where(col(MediaAsset.id) == asset_id)
        ).first()
    return None if row is None else AssetRecord(asset_id=row[0], deleted=row[1] is not None)


def alive_ids(store: Store) -> set[str]:
    with store.session() as session:
        return set(session.execute(select(col(MediaAsset.id)).where(col(MediaAsset.deleted_at).is_(None))).scalars())


def _locked(exc: OperationalError) -> bool:
    return "locked" in str(exc.orig or exc).lower() or "busy" in str(exc.orig or exc).lower()


def save(
    store: Store,
    **fields: Any,
) -> bool:
    """Write the asset and its prints in one transaction. False when it was already there
    (another process enrolled the same content meanwhile); a forgotten asset is revived.

    SQLite answers "database is locked" at once (without waiting) when two connections that
    both read try to write; such a transaction is simply run again, a few times.
    """
    for attempt in range(SAVE_ATTEMPTS):
        try:
            return _save(store, **fields)
        except OperationalError as exc:
            if not _locked(exc) or attempt == SAVE_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (2**attempt))
    raise AssertionError("unreachable")


def _save(
    store: Store,
    *,
    asset_id: str,
    prints: MediaPrints,
    mime: str,
    path: str,
    size: int,
    origin_agent_id: str,
) -> bool:
    rows: list[MediaPrint] = []
    if prints.audio is not None:
        for kind, (version, count, blob) in printformat.encode_audio(prints.audio).items():
            rows.append(MediaPrint(asset_id=asset_id, kind=kind, version=version, item_count=count, data=blob))
    if prints.frames is not None and prints.frames.count:
        version, count, blob = printformat.encode_frames(prints.frames)
        rows.append(
            MediaPrint(asset_id=asset_id, kind=printformat.FRAMES, version=version, item_count=count, data=blob)
        )
    if prints.keypoints is not None and prints.keypoints.count:
        version, count, blob = printformat.encode_keypoints(prints.keypoints)
        rows.append(
            MediaPrint(asset_id=asset_id, kind=printformat.KEYPOINTS, version=version, item_count=count, data=blob)
        )
    report = prints.report
    with store.session() as session:
        existing = session.get(MediaAsset, asset_id)
        if existing is not None and existing.deleted_at is None:
            return False
        if existing is not None:
            session.execute(delete(MediaPrint).where(col(MediaPrint.asset_id) == asset_id))
            existing.deleted_at = None
            existing.path = path
            existing.enrolled_at = utcnow()
        else:
            session.add(
                MediaAsset(
                    id=asset_id,
                    kind=prints.kind,
                    mime=mime[:128],
                    path=path,
                    size=size,
                    duration_s=report.duration_s,
                    has_audio=prints.audio is not None,
                    has_video=report.has_video,
                    origin_agent_id=origin_agent_id or None,
                )
            )
            session.flush()
        session.add_all(rows)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def forget(store: Store, asset_id: str) -> None:
    """Drop the prints and mark the asset deleted (its id stays, events refer to it)."""
    with store.session() as session:
        session.execute(delete(MediaPrint).where(col(MediaPrint.asset_id) == asset_id))
        session.execute(update(MediaAsset).where(col(MediaAsset.id) == asset_id).values(deleted_at=utcnow()))
        session.commit()


def _chunks(ids: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def load(
    store: Store, only: Iterable[str] | None = None, *, audio_known: AbstractSet[str] = frozenset()
) -> Iterator[LoadedAsset]:
    """Alive assets with their prints (all of them, or the given ids). For `audio_known`
    assets (their audio restored from index segment files) the audio prints are not read:
    they come with `audio` None and `has_audio_print` set."""
    with store.session() as session:
        query = select(
            col(MediaAsset.id), col(MediaAsset.kind), col(MediaAsset.path), col(MediaAsset.duration_s)
        ).where(col(MediaAsset.deleted_at).is_(None))
        assets = {row[0]: row for row in session.execute(query)}
    wanted = sorted(assets if only is None else set(only) & set(assets))
    for batch in _chunks(wanted, LOAD_BATCH):
        blobs: dict[str, dict[str, bytes]] = {}
        with store.session() as session:
            rows = session.execute(
                select(col(MediaPrint.asset_id), col(MediaPrint.kind), col(MediaPrint.data)).where(
                    col(MediaPrint.asset_id).in_(batch),
                    or_(
                        col(MediaPrint.kind).not_in(AUDIO_KINDS),
                        col(MediaPrint.asset_id).not_in([a for a in batch if a in audio_known]),
                    ),
                )
            )
            for asset_id, kind, data in rows:
                blobs.setdefault(str(asset_id), {})[str(kind)] = bytes(cast(bytes, data))
        for asset_id in batch:
            loaded = _decode(assets[asset_id], blobs.get(asset_id, {}), asset_id in audio_known)
            if loaded is not None:
                yield loaded


AUDIO_KINDS = (printformat.CHROMAPRINT, printformat.LANDMARKS)


def audio_digests(store: Store, only: Iterable[str] | None = None) -> dict[str, str]:
    """Per alive asset with audio prints, a digest of how the store describes them (kind,
    version, item count and byte length of each audio print row, and the enrolment time), read
    without their blobs: a persisted index segment (`segfile`) is valid for an asset only
    while this is unchanged (re-enrolment after a forget, another store, another format)."""
    rows: dict[str, list[str]] = {}
    wanted = None if only is None else sorted(set(only))
    batches = [None] if wanted is None else list(_chunks(wanted, LOAD_BATCH))
    for batch in batches:
        query = (
            sa_select(
                col(MediaPrint.asset_id),
                col(MediaPrint.kind),
                col(MediaPrint.version),
                col(MediaPrint.item_count),
                func.length(col(MediaPrint.data)),
                col(MediaAsset.enrolled_at),
            )
            .join(MediaAsset, col(MediaAsset.id) == col(MediaPrint.asset_id))
            .where(col(MediaAsset.deleted_at).is_(None), col(MediaPrint.kind).in_(AUDIO_KINDS))
        )
        if batch is not None:
            query = query.where(col(MediaPrint.asset_id).in_(batch))
        with store.session() as session:
            for asset_id, kind, version, count, length, enrolled in session.execute(query):
                rows.setdefault(str(asset_id), []).append(f"{kind}:{version}:{count}:{length}:{enrolled}")
    return {
        a: hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:32]
        for a, parts in rows.items()
        if len(parts) == len(AUDIO_KINDS)
    }


def has_print(store: Store, asset_id: str, kind: str) -> bool:
    with store.session() as session:
        row = session.execute(
            select(col(MediaPrint.asset_id)).where(col(MediaPrint.asset_id) == asset_id, col(MediaPrint.kind) == kind)
        ).first()
    return row is not None


def add_keypoints(store: Store, asset_id: str, keypoints: KeypointPrint) -> None:
    """Backfill the keypoint print of an asset enrolled before keypoints existed."""
    version, count, blob = printformat.encode_keypoints(keypoints)
    with store.session() as session:
        session.add(
            MediaPrint(asset_id=asset_id, kind=printformat.KEYPOINTS, version=version, item_count=count, data=blob)
        )
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # another process backfilled it meanwhile


def load_keypoints(store: Store, only: Iterable[str]) -> Iterator[tuple[str, KeypointPrint]]:
    """The keypoint prints of the given assets (those that have one: assets enrolled before
    keypoints existed have none until their file is enrolled again, and are found by pHash only)."""
    for batch in _chunks(sorted(set(only)), LOAD_BATCH):
        with store.session() as session:
            rows = session.execute(
                select(col(MediaPrint.asset_id), col(MediaPrint.data)).where(
                    col(MediaPrint.asset_id).in_(batch), col(MediaPrint.kind) == printformat.KEYPOINTS
                )
            )
            for asset_id, data in rows:
                try:
                    yield str(asset_id), printformat.decode_keypoints(bytes(cast(bytes, data)))
                except printformat.PrintFormatError as exc:
                    log.warning("keypoints of media asset %s not loaded: %s (enrol its file again)", asset_id, exc)


def _decode(row: tuple[str, str, str, float | None], blobs: dict[str, bytes], audio_known: bool) -> LoadedAsset | None:
    asset_id, kind, path, duration = row
    audio = frames = None
    try:
        if printformat.CHROMAPRINT in blobs and printformat.LANDMARKS in blobs:
            audio = printformat.decode_audio(
                blobs[printformat.CHROMAPRINT], blobs[printformat.LANDMARKS], duration or 0.0
            )
        if printformat.FRAMES in blobs:
            frames = printformat.decode_frames(blobs[printformat.FRAMES])
    except printformat.PrintFormatError as exc:
        log.warning("media asset %s not loaded: %s (enrol its file again)", asset_id, exc)
        return None
    if audio is None and frames is None and not audio_known:
        return None
    info = AssetInfo(
        asset_id=asset_id,
        kind=kind,
        path=path,
        duration_s=float(duration or 0.0),
        has_audio_print=audio is not None or audio_known,
        has_frame_print=frames is not None,
    )
    return LoadedAsset(info=info, audio=audio, frames=frames)
