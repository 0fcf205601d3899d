"""One update attempt: fetch + verify (TUF), refuse older bundles, install atomically, record.

Every bundle the agent is offered ends as exactly one outcome: `installed` (now in force),
`current` (already in force: nothing to record) or `rejected` (with a code and reason; the
bundle in force stays). Installed and rejected outcomes become a `signature_install` row and a
`signature` event, so the console can show what is in force and what was refused, and why.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlmodel import col, select

from agent.config import Config
from agent.store import EventWriter, SignatureInstall, Store, make_event, utcnow, write_events
from agent.updates.bundle import version_key
from agent.updates.client import CurrentBundle, FetchedBundle, UpdateClient
from agent.updates.errors import RejectCode, UpdateRejected
from agent.updates.fetch import FetchLimits
from agent.updates.installed import Layout, Pointer, install, load_installed, read_pointer
from agent.updates.source import SHIPPED_ROOT

log = logging.getLogger(__name__)

SHIPPED_TRUSTED_ROOT = SHIPPED_ROOT / "trusted" / "root.json"
MAX_TRUSTED_ROOT_BYTES = 512 << 10

OutcomeStatus = Literal["installed", "current", "rejected"]


@dataclass(frozen=True)
class UpdateOutcome:
    status: OutcomeStatus
    version: str | None
    source: str
    code: RejectCode | None = None
    reason: str = ""
    sha256: str | None = None
    expires_at: datetime | None = None
    fresh_until: datetime | None = None
    in_force: str | None = None  # the version enforced after this attempt

    @property
    def summary(self) -> str:
        if self.status == "installed":
            return f"signature bundle {self.version} installed from {self.source}"
        if self.status == "current":
            return f"signature bundle {self.version} is current"
        kept = f"; still enforcing {self.in_force}" if self.in_force else ""
        return f"signature bundle {self.version or '(unknown version)'} rejected: {self.reason}{kept}"


class UpdateState(BaseModel):
    """What the last attempts found, for status, doctor and health (data_dir/signatures/state.json)."""

    model_config = ConfigDict(extra="ignore")

    repository: str = ""
    last_check: datetime | None = None
    last_success: datetime | None = None
    signed_until: datetime | None = None  # targets expiry at the last success
    fresh_until: datetime | None = None  # timestamp expiry at the last success
    last_error: str | None = None
    last_code: str | None = None
    failures: int = 0  # consecutive rejected checks (the poll backs off on transient ones)


def state_path(layout: Layout) -> Path:
    return layout.root / "state.json"


def read_state(layout: Layout) -> UpdateState:
    try:
        return UpdateState.model_validate_json(state_path(layout).read_bytes()[: 64 << 10])
    except (OSError, ValidationError):
        return UpdateState()


def _write_state(layout: Layout, state: UpdateState) -> None:
    layout.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = layout.root / ".state.json.tmp"
    tmp.write_text(state.model_dump_json(indent=2))
    tmp.replace(state_path(layout))


def trusted_root_bytes(config: Config) -> bytes:
    """The root of trust: `[signatures] trusted_root`, else the root shipped with PhiWall."""
    path = config.signatures.trusted_root.expanduser() if config.signatures.trusted_root else SHIPPED_TRUSTED_ROOT
    try:
        data = path.read_bytes()[: MAX_TRUSTED_ROOT_BYTES + 1]
    except OSError as exc:
        raise UpdateRejected(
            "config", f"trusted root {path} is unreadable: {exc.strerror}", hint="set [signatures] trusted_root"
        ) from None
    if len(data) > MAX_TRUSTED_ROOT_BYTES:
        raise UpdateRejected("config", f"trusted root {path} is larger than {MAX_TRUSTED_ROOT_BYTES} bytes")
    return data


def _safe_pointer(layout: Layout) -> Pointer | None:
    try:
        return read_pointer(layout)
    except UpdateRejected:
        return None


def _usable_sha256(layout: Layout, pointer: Pointer | None) -> str | None:
    """The installed bundle's hash, only when that bundle still loads: a copy damaged on disk (or
    one an older agent accepted that fails today's checks) must be downloaded again, not kept."""
    if pointer is None:
        return None
    try:
        load_installed(layout, pointer)
    except UpdateRejected:
        return None
    return pointer.sha256


def check_for_update(
    layout: Layout,
    repository: str,
    trusted_root: bytes,
    *,
    apply: bool = True,
    limits: FetchLimits | None = None,
    cancel: threading.Event | None = None,
) -> tuple[UpdateOutcome, FetchedBundle | None]:
    """Fetch, verify and (when `apply`) install the repository's bundle. Never raises for a bad update.

    Downloads are bounded by `limits` (deadline, stall timeout, minimum rate); setting `cancel`
    abandons the check at once (the agent is stopping).
    """
    pointer = _safe_pointer(layout)
    in_force = pointer.version if pointer else None
    state = read_state(layout)
    state.repository = repository
    state.last_check = utcnow()
    fetched: FetchedBundle | None = None
    try:
        client = UpdateClient(layout.metadata_dir, repository, trusted_root, limits=limits, cancel=cancel)
        result = client.fetch(persist=apply, installed_sha256=_usable_sha256(layout, pointer))
        if isinstance(result, CurrentBundle):
            assert pointer is not None
            outcome = UpdateOutcome(
                "current",
                pointer.version,
                repository,
                sha256=pointer.sha256,
                expires_at=result.expires_at,
                fresh_until=result.fresh_until,
                in_force=in_force,
            )
        else:
            fetched = result
            _refuse_older(fetched, pointer)
            if apply:
                install(layout, fetched.data, fetched.bundle, source=repository, expires_at=fetched.expires_at)
                in_force = fetched.bundle.version
            outcome = UpdateOutcome(
                "installed",
                fetched.bundle.version,
                repository,
                sha256=fetched.sha256,
                expires_at=fetched.expires_at,
                fresh_until=fetched.fresh_until,
                in_force=in_force,
            )
        state.last_success, state.signed_until, state.fresh_until = (
            state.last_check,
            outcome.expires_at,
            outcome.fresh_until,
        )
        state.last_error = state.last_code = None
        state.failures = 0
    except UpdateRejected as exc:
        state.last_error, state.last_code = str(exc), exc.code
        state.failures += 1
        outcome = UpdateOutcome(
            "rejected",
            fetched.bundle.version if fetched else None,
            repository,
            code=exc.code,
            reason=str(exc),
            sha256=fetched.sha256 if fetched else None,
            in_force=in_force,
        )
    except OSError as exc:  # the data dir itself failed: report, keep the bundle in force
        state.last_error, state.last_code = f"local I/O: {exc}", "unreachable"
        state.failures += 1
        outcome = UpdateOutcome(
            "rejected", None, repository, code="unreachable", reason=f"local I/O: {exc}", in_force=in_force
        )
    except Exception as exc:  # a bug must not stop enforcement or the poll loop: record it and keep going
        log.exception("signature update check failed unexpectedly")
        state.last_error, state.last_code = f"internal error: {type(exc).__name__}: {exc}", "internal"
        state.failures += 1
        outcome = UpdateOutcome(
            "rejected", None, repository, code="internal", reason=state.last_error, in_force=in_force
        )
    if apply:
        try:
            _write_state(layout, state)
        except OSError as exc:
            log.error("cannot write %s: %s", state_path(layout), exc)
    return outcome, fetched


def _refuse_older(fetched: FetchedBundle, pointer: Pointer | None) -> None:
    """Bundle-level rollback protection, on top of TUF's metadata-level protection."""
    if pointer is None:
        return
    version = fetched.bundle.version
    if version_key(version) < version_key(pointer.version):
        raise UpdateRejected("rollback", f"bundle {version} is older than the installed {pointer.version}")
    if version == pointer.version and fetched.sha256 != pointer.sha256:
        raise UpdateRejected(
            "rollback", f"version {version} is already installed with different content; publish a higher version"
        )


class Recorder(Protocol):
    def record(self, outcome: UpdateOutcome) -> None: ...


class StoreRecorder:
    """Writes `signature_install` rows and `signature` events for installed/rejected outcomes."""

    def __init__(self, store: Store, agent_id: str, events: EventWriter | None = None) -> None:
        self._store = store
        self._agent_id = agent_id
        self._events = events

    def record(self, outcome: UpdateOutcome) -> None:
        if outcome.status == "current":
            return
        with self._store.session() as session:
            if outcome.status == "installed":
                active = session.exec(
                    select(SignatureInstall).where(
                        col(SignatureInstall.agent_id) == self._agent_id, col(SignatureInstall.status) == "active"
                    )
                ).all()
                for row in active:
                    row.status = "superseded"
                    session.add(row)
            session.add(
                SignatureInstall(
                    agent_id=self._agent_id,
                    version=(outcome.version or "?")[:64],
                    status="active" if outcome.status == "installed" else "rejected",
                    sha256=outcome.sha256,
                    source=outcome.source,
                    reason=outcome.reason,
                    expires_at=outcome.expires_at,
                )
            )
            session.commit()
        details = {
            "status": outcome.status,
            "code": outcome.code,
            "version": outcome.version,
            "sha256": outcome.sha256,
            "in_force": outcome.in_force,
            "expires_at": outcome.expires_at.isoformat() if outcome.expires_at else None,
        }
        event = make_event(
            kind="signature",
            agent_id=self._agent_id,
            verdict="info",
            reason=outcome.summary[:2000],
            catalog_version=(outcome.in_force or "")[:64] or None,
            details=json.dumps({k: v for k, v in details.items() if v is not None}, sort_keys=True),
        )
        if self._events is not None:
            self._events.submit(event)
        else:
            write_events(self._store, [event])
