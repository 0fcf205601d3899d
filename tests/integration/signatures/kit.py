"""Test kit for signatures: small real bundles, real keys, real TUF repositories, a loopback
HTTP server. Shared by the unit and integration tests of the signatures area."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.shadow.classifier import AIShapeClassifier
from agent.shadow.features import STRUCTURAL_PREFIXES, shape_features
from agent.shadow.model_check import SMOKE_AI, SMOKE_ORDINARY
from agent.updates.bundle import BUNDLE_FORMAT, bundle_bytes, parse_bundle
from phiwall_publish.keys import KeyRing, generate_key
from phiwall_publish.repository import Lifetimes, Repository, Thresholds


def service(service_id: str, host: str, **extra: Any) -> dict[str, Any]:
    """A minimal valid catalog service entry (source form)."""
    entry: dict[str, Any] = {
        "id": service_id,
        "name": service_id.title(),
        "vendor": "Test",
        "category": "transcription",
        "interface": "api",
        "hosts": [host],
        "examples": [f"https://{host}/v1/upload"],
        "endpoints": [{"path": "/v1/upload", "multipart_fields": ["file"], "example": "/v1/upload"}],
    }
    entry.update(extra)
    return entry


def tiny_shadow_model(**changes: Any) -> dict[str, Any]:
    """A small but genuine shadow classifier: real feature names of this FEATURE_VERSION, weights
    that pass the smoke prediction (AI sample up, ordinary sample down). `changes` override fields."""
    ai = {f for f in shape_features(SMOKE_AI) if not f.startswith(STRUCTURAL_PREFIXES)}
    ordinary = {f for f in shape_features(SMOKE_ORDINARY) if not f.startswith(STRUCTURAL_PREFIXES)}
    vocabulary = sorted(ai - ordinary)[:12] + sorted(ordinary - ai)[:12]
    coef = [1.0 if name in ai else -1.0 for name in vocabulary]
    params = AIShapeClassifier(vocabulary, coef, -0.5, threshold=0.7, low_threshold=0.2, version="tiny").to_params()
    params.update(changes)
    return params


def bundle_document(version: str, *, services: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "version": version,
        "created": datetime.now(UTC).isoformat(),
        "catalog": {"version": version, "services": services or [service("scribe", "api.scribe.example")]},
        "policy": {},
        "models": {"shadow_classifier": tiny_shadow_model()},
    }
    document.update(extra)
    return document


def bundle_data(version: str, **kwargs: Any) -> bytes:
    """Canonical bytes of a valid small bundle (validated, as `phiwall-publish build` would)."""
    return bundle_bytes(parse_bundle(json.dumps(bundle_document(version, **kwargs)).encode()))


def raw_bundle(document: dict[str, Any]) -> bytes:
    """Bytes of any document, valid or not (a signer publishing garbage)."""
    return json.dumps(document).encode()


def make_keys(key_dir: Path, *, root: int = 2) -> KeyRing:
    for role, count in (("root", root), ("targets", 1), ("snapshot", 1), ("timestamp", 1)):
        for index in range(1, count + 1):
            generate_key(key_dir, role, f"{role}-{index}")  # type: ignore[arg-type]
    return KeyRing.load([key_dir])


def make_repository(
    base: Path, *, root_threshold: int = 2, lifetimes: Lifetimes | None = None
) -> tuple[Repository, KeyRing]:
    ring = make_keys(base / "keys", root=max(root_threshold, 2))
    repo = Repository(base / "repo", lifetimes or Lifetimes())
    repo.init(ring, Thresholds(root=root_threshold))
    return repo, ring


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1 (port 0) for the duration of the block."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
