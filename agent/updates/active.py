"""The signatures in force, for the proxy and everyone else: never empty, hot-reloadable.

Precedence, decided once in `load_active`:
1. `[signatures] catalog` in the config: a pinned catalog (source tree, YAML file or bundle
   JSON), re-read when the file changes. For labs and tests; updates are not applied.
2. The installed bundle (`<data_dir>/signatures/current.json`), verified when installed and
   re-hashed when loaded.
3. The shipped catalog (part of the package, trusted like the code).

The proxy runs in its own process; it calls `reload_if_changed()` (one `stat` of the pointer,
at most every `check_interval` seconds) and picks up a new bundle without restarting. A bundle
that fails to load leaves the previous set in force: there is no moment without a catalog.

The local policy overlay (`agent.policy.local`, `<data_dir>/policy/local.yaml`: services an
analyst approved or blocked from the console) is applied on top of whichever set is in force
and watched the same way, so a console decision takes effect without a restart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from agent.config import Config
from agent.policy.catalog import Catalog
from agent.policy.local import LocalOverlay, OverlayError, overlay_path, read_overlay
from agent.policy.org import OrgPolicy
from agent.updates.bundle import Bundle, bundle_bytes
from agent.updates.errors import UpdateRejected
from agent.updates.installed import Layout, load_installed, pointer_stamp, read_pointer
from agent.updates.source import load_source, shipped_bundle

log = logging.getLogger(__name__)

SourceKind = Literal["shipped", "bundle", "pinned"]


@dataclass(frozen=True)
class SignatureSet:
    """One consistent catalog + policy + models, as installed together."""

    version: str
    catalog: Catalog
    policy: OrgPolicy
    models: Mapping[str, Any]
    source: SourceKind = "shipped"
    sha256: str | None = None
    expires_at: datetime | None = None
    local: LocalOverlay = field(default_factory=LocalOverlay)
    _injections: dict[str, dict[str, str]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_bundle(
        cls,
        bundle: Bundle,
        *,
        source: SourceKind,
        sha256: str | None = None,
        expires_at: datetime | None = None,
        extra_passthrough: tuple[str, ...] = (),
        extra_internal: tuple[str, ...] = (),
        local: LocalOverlay | None = None,
    ) -> SignatureSet:
        overlay = local or LocalOverlay()
        return cls(
            version=bundle.version,
            catalog=bundle.catalog,
            policy=overlay.apply(bundle.policy.with_passthrough(extra_passthrough).with_internal(extra_internal)),
            models=bundle.models,
            source=source,
            sha256=sha256,
            expires_at=expires_at,
            local=overlay,
        )

    @property
    def label(self) -> str:
        """What the console and heartbeats show: version and where it came from."""
        return self.version if self.source == "bundle" else f"{self.version} ({self.source})"

    def injected_headers(self, host: str) -> dict[str, str]:
        """Tenant-restriction headers to add to a request for `host` (memoised per host)."""
        cached = self._injections.get(host)
        if cached is None:
            cached = self.policy.restriction_headers(self.catalog, host)
            if len(self._injections) < 4096:
                self._injections[host] = cached
        return cached


Stamp = tuple[int, int, int] | None


class ActiveSignatures:
    """Thread-safe holder of the `SignatureSet` in force."""

    def __init__(
        self,
        initial: SignatureSet,
        *,
        layout: Layout | None = None,
        pinned: Path | None = None,
        extra_passthrough: tuple[str, ...] = (),
        extra_internal: tuple[str, ...] = (),
        check_interval: float = 1.0,
        overlay: Path | None = None,
    ) -> None:
        self._current = initial
        self._lock = threading.Lock()
        self._layout = layout
        self._pinned = pinned
        self._overlay = overlay
        self._extra_passthrough = extra_passthrough
        self._extra_internal = extra_internal
        self._check_interval = check_interval
        self._next_check = 0.0
        self._stamp = self._read_stamp()
        self.last_error: str | None = None
        self.last_code: str | None = None  # the `UpdateRejected` code of `last_error`

    def current(self) -> SignatureSet:
        return self._current

    def _read_stamp(self) -> tuple[Stamp, Stamp]:
        """What tells a changed bundle (or pinned file) and a changed local overlay."""
        overlay: Stamp = None
        if self._overlay is not None:
            try:
                st = os.stat(self._overlay)
                overlay = (st.st_ino, st.st_mtime_ns, st.st_size)
            except OSError:
                overlay = None
        return self._read_source_stamp(), overlay

    def _read_source_stamp(self) -> Stamp:
        if self._pinned is not None:
            try:
                st = os.stat(self._pinned)
            except OSError:
                return None
            return (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._layout is not None:
            return pointer_stamp(self._layout)
        return None

    def reload_if_changed(self, *, force: bool = False) -> bool:
        """Load a newly installed bundle if the pointer changed; True when the set changed.

        Cheap enough for every flow: a monotonic-clock check, and at most one `stat` per
        `check_interval`. Errors keep the current set and are kept in `last_error`.
        """
        now = time.monotonic()
        if not force and now < self._next_check:
            return False
        with self._lock:
            self._next_check = now + self._check_interval
            stamp = self._read_stamp()
            if stamp == self._stamp and not force:
                return False
            try:
                loaded = self._load()
            except (UpdateRejected, OSError, OverlayError) as exc:
                self.last_error = str(exc)
                self.last_code = exc.code if isinstance(exc, UpdateRejected) else "missing"
                log.error("signature reload failed, keeping %s: %s", self._current.label, exc)
                self._stamp = stamp
                return False
            self._stamp = stamp
            self.last_error = self.last_code = None
            current = self._current
            if loaded is None or (loaded.version, loaded.sha256, loaded.local) == (
                current.version,
                current.sha256,
                current.local,
            ):
                return False
            log.info("signatures %s now in force (was %s)", loaded.label, self._current.label)
            self._current = loaded
            return True

    def _load(self) -> SignatureSet | None:
        local = read_overlay(self._overlay) if self._overlay is not None else None
        if self._pinned is not None:
            return _pinned_set(self._pinned, self._extra_passthrough, self._extra_internal, local)
        if self._layout is None:
            return None
        installed = load_installed(self._layout)
        if installed is None:
            # Nothing installed: the shipped catalog stays in force (with the overlay as it is now).
            return (
                shipped_signatures(self._extra_passthrough, self._extra_internal, local)
                if self._overlay is not None
                else None
            )
        pointer, bundle = installed
        return SignatureSet.from_bundle(
            bundle,
            source="bundle",
            sha256=pointer.sha256,
            expires_at=pointer.expires_at,
            extra_passthrough=self._extra_passthrough,
            extra_internal=self._extra_internal,
            local=local,
        )

    def replace(self, signatures: SignatureSet) -> None:
        """Install a set directly (the update component, right after it swapped the pointer)."""
        if self._overlay is not None and signatures.local.is_empty:
            local = _initial_overlay(self._overlay)
            if local is not None and not local.is_empty:
                signatures = dataclasses.replace(signatures, policy=local.apply(signatures.policy), local=local)
        with self._lock:
            self._current = signatures
            self._stamp = self._read_stamp()


def _pinned_set(
    path: Path,
    extra_passthrough: tuple[str, ...],
    extra_internal: tuple[str, ...] = (),
    local: LocalOverlay | None = None,
) -> SignatureSet:
    bundle = load_source(path)
    digest = hashlib.sha256(bundle_bytes(bundle)).hexdigest()  # tells an edited file from an unchanged one
    return SignatureSet.from_bundle(
        bundle,
        source="pinned",
        sha256=digest,
        extra_passthrough=extra_passthrough,
        extra_internal=extra_internal,
        local=local,
    )


def shipped_signatures(
    extra_passthrough: tuple[str, ...] = (),
    extra_internal: tuple[str, ...] = (),
    local: LocalOverlay | None = None,
) -> SignatureSet:
    return SignatureSet.from_bundle(
        shipped_bundle(),
        source="shipped",
        extra_passthrough=extra_passthrough,
        extra_internal=extra_internal,
        local=local,
    )


def _overlay_problem(path: Path) -> str:
    try:
        read_overlay(path)
    except OverlayError as exc:
        return str(exc)
    return "unreadable"


def _initial_overlay(path: Path) -> LocalOverlay | None:
    try:
        return read_overlay(path)
    except OverlayError as exc:
        log.error("local policy overlay ignored: %s", exc)
        return None


def load_active(data_dir: Path, config: Config, *, check_interval: float = 1.0) -> ActiveSignatures:
    """The signatures in force for this agent; never raises for a bad installed bundle.

    `check_interval` bounds how often `reload_if_changed()` looks at the disk (seconds).
    """
    extra = tuple(config.proxy.passthrough_hosts)
    internal = tuple(config.zones.internal)
    overlay = overlay_path(data_dir)
    local = _initial_overlay(overlay)
    pinned = config.signatures.catalog
    if pinned is not None:
        pinned = pinned.expanduser()
        initial = _pinned_set(pinned, extra, internal, local)  # a pinned catalog that does not load is a config error
        return ActiveSignatures(
            initial,
            pinned=pinned,
            extra_passthrough=extra,
            extra_internal=internal,
            check_interval=check_interval,
            overlay=overlay,
        )
    layout = Layout.for_data_dir(data_dir)
    active = ActiveSignatures(
        shipped_signatures(extra, internal, local),
        layout=layout,
        extra_passthrough=extra,
        extra_internal=internal,
        check_interval=check_interval,
        overlay=overlay,
    )
    if local is None:
        active.last_error = f"local policy overlay ignored: {_overlay_problem(overlay)}"
    try:
        if read_pointer(layout) is not None:
            active.reload_if_changed(force=True)
    except UpdateRejected as exc:
        active.last_error, active.last_code = str(exc), exc.code
        log.error("installed signatures unusable, enforcing the shipped catalog: %s", exc)
    return active
