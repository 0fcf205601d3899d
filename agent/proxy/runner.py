"""The proxy process: an embedded mitmproxy `DumpMaster` with the PhiWall addon.

`python -m agent.proxy --listen 127.0.0.1:8080 --db URL --data-dir DIR` is what the
supervisor (`phiwall run`) starts; tests and benchmarks start it with `--listen
127.0.0.1:0 --port-file F` and read the bound address from F. The process opens the store,
the media index and the signatures before it listens, so the first flow is already enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from mitmproxy import options
from mitmproxy.tools.dump import DumpMaster
from pydantic import ValidationError

from agent.config import ProxySection, load_config
from agent.environment import environment
from agent.errors import ConfigError, PhiWallError
from agent.listen import ensure_can_listen
from agent.logs import setup_logging
from agent.proxy.addon import PhiWallGuard
from agent.proxy.ca import ensure_ca
from agent.proxy.services import GuardServices
from agent.proxy.settings import ProxySettings

log = logging.getLogger(__name__)


def mitmproxy_options(settings: ProxySettings) -> dict[str, object]:
    """The mitmproxy options enforcement depends on (DESIGN.md §6)."""
    return {
        "listen_host": settings.listen_host,
        "listen_port": settings.listen_port,
        "confdir": str(settings.ca_dir),
        "connection_strategy": "lazy",  # a blocked request never contacts the AI server
        "http3": False,  # QUIC would bypass an HTTP proxy
        "stream_large_bodies": f"{settings.config.proxy.max_inspect_mb}m",  # never buffer beyond the limit
        "ssl_insecure": False,
        "websocket": True,
    }


async def serve(settings: ProxySettings, *, extra_options: dict[str, object] | None = None) -> None:
    """Run the proxy until SIGTERM/SIGINT (or the master is shut down).

    A listen address in use is `ListenError` (exit 7) before anything loads: the supervisor
    does not restart a proxy that exited so.
    """
    ensure_can_listen(settings.listen_host, settings.listen_port)
    ensure_ca(settings.ca_dir)
    services = GuardServices.open(settings)
    # Everything loaded so far (catalog, media index, libraries) lives as long as the process:
    # move it out of the cyclic collector's sight so per-request garbage collections stay cheap.
    gc.collect()
    gc.freeze()
    opts = options.Options()
    master = DumpMaster(opts, with_termlog=False, with_dumper=False)
    addons: Any = master.addons
    addons.add(PhiWallGuard(services))
    # Options are set after the addons are added (so addon options exist).
    master_options: Any = master.options
    master_options.update(**mitmproxy_options(settings), **(extra_options or {}))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, master.shutdown)
    try:
        await master.run()
    finally:
        # Connections still open at shutdown are cancelled by asyncio.run; on Python < 3.12.3 the
        # stream callback then logs each CancelledError as an error. It is not one: drop it.
        loop.set_exception_handler(_ignore_cancelled)
        services.close()


def _ignore_cancelled(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agent.proxy", description=__doc__)
    parser.add_argument("--listen", default=None, help="HOST:PORT (loopback; port 0 picks a free port)")
    parser.add_argument("--db", default=None, help="store URL (default: from the config)")
    parser.add_argument("--data-dir", type=Path, default=None, help="data dir (CA, status file)")
    parser.add_argument("--config", type=Path, default=None, help="config file")
    parser.add_argument("--port-file", type=Path, default=None, help="write HOST:PORT here once listening")
    parser.add_argument("--refresh", type=float, default=5.0, help="seconds between media/signature refreshes")
    parser.add_argument("--workers", type=int, default=2, help="inspection threads")
    parser.add_argument(
        "--set", action="append", default=[], metavar="OPTION=VALUE", help="extra mitmproxy option (tests)"
    )
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> tuple[ProxySettings, dict[str, object]]:
    config = load_config(args.config)
    if args.data_dir is not None:
        config = config.model_copy(update={"agent": config.agent.model_copy(update={"data_dir": args.data_dir})})
    try:
        section = ProxySection(listen=args.listen) if args.listen else config.proxy
    except ValidationError:
        raise ConfigError(f"--listen {args.listen!r}: expected HOST:PORT") from None
    host, port = section.listen_host, section.listen_port
    extra: dict[str, object] = {}
    for item in args.set:
        name, _, value = item.partition("=")
        extra[name] = value
    settings = ProxySettings(
        config=config,
        store_url=config.store_url(args.db),
        data_dir=config.data_dir,
        listen_host=host,
        listen_port=port,
        refresh_s=args.refresh,
        workers=args.workers,
        port_file=args.port_file,
    )
    return settings, extra


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    # mitmproxy logs every connection and streamed response at INFO: per-request noise that
    # costs throughput. Its warnings and errors still come through.
    logging.getLogger("mitmproxy").setLevel(environment().mitmproxy_log_level)
    try:
        args = parse_args(argv)
        settings, extra = settings_from_args(args)
        asyncio.run(serve(settings, extra_options=extra))
    except PhiWallError as err:
        print(f"phiwall proxy: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 0
    return 0
