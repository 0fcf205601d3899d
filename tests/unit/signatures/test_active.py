"""The signatures in force: precedence, atomic install, hot reload, never empty."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml

from agent.config import Config, SignaturesSection
from agent.updates.active import ActiveSignatures, SignatureSet, load_active, shipped_signatures
from agent.updates.bundle import parse_bundle
from agent.updates.errors import UpdateRejected
from agent.updates.installed import KEEP_BUNDLES, Layout, install, load_installed, read_pointer
from agent.updates.source import shipped_bundle
from tests.integration.signatures.kit import bundle_data, service


def put(layout: Layout, version: str, **kwargs: object) -> None:
    data = bundle_data(version, **kwargs)  # type: ignore[arg-type]
    install(layout, data, parse_bundle(data), source="test", expires_at=None)


def test_shipped_catalog_when_nothing_is_installed(tmp_path: Path) -> None:
    active = load_active(tmp_path, Config())
    current = active.current()
    assert current.source == "shipped"
    assert current.version == shipped_bundle().version
    assert current.label.endswith("(shipped)")
    assert current.catalog.service_for_host("api.openai.com") is not None


def test_installed_bundle_wins_and_config_passthrough_is_merged(tmp_path: Path) -> None:
    put(Layout.for_data_dir(tmp_path), "2026.1.1")
    config = Config.model_validate({"proxy": {"passthrough_hosts": ["*.bank.example"]}})
    current = load_active(tmp_path, config).current()
    assert current.source == "bundle"
    assert current.version == "2026.1.1"
    assert current.label == "2026.1.1"
    assert current.policy.is_passthrough("online.bank.example")
    assert current.models["shadow_classifier"]["threshold"] == 0.7


def test_hot_reload_picks_up_a_new_pointer_cheaply(tmp_path: Path) -> None:
    layout = Layout.for_data_dir(tmp_path)
    put(layout, "2026.1.1")
    active = load_active(tmp_path, Config())
    assert active.reload_if_changed() is False  # nothing changed
    put(layout, "2026.1.2", services=[service("newcomer", "api.newcomer.example")])
    assert active.current().version == "2026.1.1"  # throttled: the interval has not passed
    assert active.reload_if_changed(force=True) is True
    assert active.current().version == "2026.1.2"
    assert active.current().catalog.service_for_host("api.newcomer.example") is not None


def test_a_corrupted_installed_bundle_keeps_the_set_in_force(tmp_path: Path) -> None:
    layout = Layout.for_data_dir(tmp_path)
    put(layout, "2026.1.1")
    active = load_active(tmp_path, Config())
    put(layout, "2026.1.2")
    pointer = read_pointer(layout)
    assert pointer is not None
    path = layout.bundles_dir / pointer.bundle / "bundle.json"
    path.write_bytes(path.read_bytes().replace(b"scribe", b"scribX"))
    assert active.reload_if_changed(force=True) is False
    assert active.current().version == "2026.1.1"
    assert active.last_error is not None
    assert "changed on disk" in active.last_error
    # A fresh process falls back to the shipped catalog, loudly: never nothing.
    fresh = load_active(tmp_path, Config())
    assert fresh.current().source == "shipped"
    assert fresh.last_error is not None
    assert "tampered" in fresh.last_error


def test_a_truncated_pointer_is_reported(tmp_path: Path) -> None:
    layout = Layout.for_data_dir(tmp_path)
    put(layout, "2026.1.1")
    layout.pointer.write_text('{"bundle": "x"')
    with pytest.raises(UpdateRejected, match="unreadable"):
        read_pointer(layout)
    assert load_active(tmp_path, Config()).current().source == "shipped"


def test_readers_never_see_a_half_installed_bundle(tmp_path: Path) -> None:
    """Install bundles back to back while readers reload as fast as they can."""
    layout = Layout.for_data_dir(tmp_path)
    put(layout, "2026.1.0")
    active = load_active(tmp_path, Config(), check_interval=0.0)  # readers look at the disk on every call
    seen: list[str] = []
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            active.reload_if_changed()
            current = active.current()
            if current.catalog.service_for_host("api.scribe.example") is None:
                errors.append(f"{current.version}: catalog without its service")
            seen.append(current.version)
            if active.last_error:
                errors.append(active.last_error)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for minor in range(1, 25):
            put(layout, f"2026.1.{minor}")
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert errors == []
    active.reload_if_changed(force=True)
    assert active.current().version == "2026.1.24"
    assert len(set(seen)) > 1  # the readers really followed the installs
    kept = [p for p in layout.bundles_dir.iterdir() if not p.name.startswith(".")]
    assert len(kept) == KEEP_BUNDLES  # old bundles collected, no staging debris


def test_pinned_catalog_from_config_and_its_reload(tmp_path: Path) -> None:
    pinned = tmp_path / "lab-catalog.yaml"
    pinned.write_text(yaml.safe_dump({"services": [service("lab", "api.lab.example")]}))
    config = Config(signatures=SignaturesSection(catalog=pinned))
    active = load_active(tmp_path, config)
    assert active.current().source == "pinned"
    assert [s.id for s in active.current().catalog.services] == ["lab"]
    pinned.write_text(yaml.safe_dump({"services": [service("lab2", "api.lab2.example")]}))
    assert active.reload_if_changed(force=True) is True
    assert [s.id for s in active.current().catalog.services] == ["lab2"]
    pinned.write_text("services: [oops")
    assert active.reload_if_changed(force=True) is False
    assert [s.id for s in active.current().catalog.services] == ["lab2"]


def test_a_broken_pinned_catalog_is_a_startup_error(tmp_path: Path) -> None:
    pinned = tmp_path / "broken.yaml"
    pinned.write_text(json.dumps({"services": [service("x", "api.x.example", hosts=["*.com"])]}))
    with pytest.raises(UpdateRejected, match="invalid host pattern"):
        load_active(tmp_path, Config(signatures=SignaturesSection(catalog=pinned)))


def test_injected_headers_are_memoised_per_host() -> None:
    signatures: SignatureSet = shipped_signatures()
    assert signatures.injected_headers("login.microsoftonline.com") == {}  # nothing approved by default
    holder = ActiveSignatures(signatures)
    assert holder.reload_if_changed(force=True) is False  # no layout, no pin: nothing to reload


def test_installed_bundle_round_trip(tmp_path: Path) -> None:
    layout = Layout.for_data_dir(tmp_path)
    put(layout, "2026.4.4")
    loaded = load_installed(layout)
    assert loaded is not None
    pointer, bundle = loaded
    assert pointer.version == bundle.version == "2026.4.4"
    assert (layout.bundles_dir / pointer.bundle / "bundle.json").stat().st_size > 0
