"""Real proxy services for hook-level tests: a store, signatures with the loopback catalog,
the event writer and the drain sink, as `python -m agent.proxy` opens them."""

from __future__ import annotations

from pathlib import Path

from agent.config import Config
from agent.media import MediaService
from agent.proxy.services import GuardServices
from agent.proxy.settings import ProxySettings
from agent.store import EventWriter, open_store
from agent.updates.active import load_active
from tests.integration.proxy.harness import write_signatures


async def open_guard_services(
    tmp_path: Path,
    *,
    media: object | None = None,
    unknown_ai: str = "inspect",
    settings: dict[str, object] | None = None,
) -> GuardServices:
    """Started services under `tmp_path`; `media` replaces the real matcher (a crash or a stall)."""
    signatures = write_signatures(tmp_path / "signatures", unknown_ai=unknown_ai)
    config = Config.model_validate(
        {"agent": {"id": "unit", "data_dir": str(tmp_path / "data")}, "signatures": {"catalog": str(signatures)}}
    )
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    writer = EventWriter(store)
    writer.start()
    proxy_settings = ProxySettings(config=config, store_url=store.url, data_dir=tmp_path / "data", **(settings or {}))  # type: ignore[arg-type]
    services = GuardServices(
        proxy_settings,
        store=store,
        media=media or MediaService(store),  # type: ignore[arg-type]
        signatures=load_active(tmp_path / "data", config),
        writer=writer,
        agent="unit",
    )
    await services.start()
    return services
