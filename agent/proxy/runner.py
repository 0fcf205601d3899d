"""The proxy process: an embedded mitmproxy master (agent.proxy.master) with the PhiWall addon.

`python -m agent.proxy --listen 127.0.0.1:8080 --db URL --data-dir DIR` is what the
supervisor (`phiwall run`) starts; tests and benchmarks start it with `--listen
127.0.0.1:0 --port-file F` and read the bound address from F. The process opens the store,
the media index and the signatures before it listens, so the first flow is already enforced.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from mitmproxy import options
from mitmproxy.exceptions import OptionsError
from pydantic import ValidationError

from agent.config import ProxySection
from agent.environment import environment
from agent.errors import ConfigError, PhiWallError
from agent.listen import ensure_can_listen
from agent.logs import setup_logging
from agent.proxy.addon import PhiWallGuard
from agent.proxy.ca import ensure_ca
from agent.proxy.master import enforcement_master
from agent.proxy.services import GuardServices
from agent.proxy.settings import ProxySettings

log = logging.getLogger(__name__)


def mitmproxy_options(settings: ProxySettings) -> dict[str, object]:
    """The mitmproxy options enforcement depends on (docs/proxy.md explains each)."""
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


async def serve(settings: ProxySettings, *, extra_options: dict[str, str] | None = None) -> None:
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
    master = enforcement_master(opts)
    addons: Any = master.addons
    addons.add(PhiWallGuard(services))
    # Options are set after the addons are added (so addon options exist).
    master_options: Any = master.options
    master_options.update(**mitmproxy_options(settings))
    loop = asyncio.get_running_loop()
    try:
        set_extra_options(master_options, extra_options or {})
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, master.shutdown)
            except NotImplementedError:  # Windows' event loop: a plain handler that asks the loop
                signal.signal(signum, lambda *_: loop.call_soon_threadsafe(master.shutdown))
        await master.run()
    finally:
        # Connections still open at shutdown are cancelled by asyncio.run; on Python < 3.12.3 the
        # stream callback then logs each CancelledError as an error. It is not one: drop it.
        loop.set_exception_handler(_ignore_cancelled)
        services.close()


def set_extra_options(master_options: Any, extra: dict[str, str]) -> None:
    """`--set OPTION=VALUE` pairs, parsed as mitmproxy parses them (`block_global=false` is a bool).

    An option PhiWall's master does not load (agent.proxy.master: e.g. `save_stream_file`) or a
    malformed value is a `ConfigError` naming it, before the proxy listens.
    """
    try:
        master_options.set(*(f"{name}={value}" for name, value in extra.items()))
    except (OptionsError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"--set: {exc} (PhiWall's proxy loads only the mitmproxy addons it needs)") from None


def _ignore_cancelled(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


@dataclass(frozen=True)
class ProxyArguments:
    """The child's command line, as the supervisor (`phiwall run`) passes it."""

    listen: str | None = None
    db: str | None = None
    data_dir: Path | None = None
    config: Path | None = None
    port_file: Path | None = None
    refresh: float = 5.0
    workers: int = 2
    extra: tuple[str, ...] = ()


@click.command(name="python -m agent.proxy", help=__doc__)
@click.option("--listen", default=None, help="HOST:PORT (loopback; port 0 picks a free port)")
@click.option("--db", default=None, help="store URL (default: from the config)")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="data dir (CA, status file)")
@click.option("--config", type=click.Path(path_type=Path), default=None, help="config file")
@click.option("--port-file", type=click.Path(path_type=Path), default=None, help="write HOST:PORT here once listening")
@click.option("--refresh", type=float, default=5.0, show_default=True, help="seconds between media/signature refreshes")
@click.option("--workers", type=int, default=2, show_default=True, help="inspection threads")
@click.option("--set", "extra", multiple=True, metavar="OPTION=VALUE", help="extra mitmproxy option (tests)")
def proxy_command(**values: Any) -> ProxyArguments:
    """Parse only: `main` runs the proxy, so errors map to the child's exit codes."""
    return ProxyArguments(**values)


def parse_args(argv: list[str] | None = None) -> ProxyArguments:
    """The child's arguments; a usage error raises `click.UsageError` (exit code 2)."""
    parsed = proxy_command.main(args=argv if argv is not None else sys.argv[1:], standalone_mode=False)
    if not isinstance(parsed, ProxyArguments):  # --help printed and returned
        raise SystemExit(0)
    return parsed


def settings_from_args(args: ProxyArguments) -> tuple[ProxySettings, dict[str, str]]:
    try:
        listen = ProxySection(listen=args.listen) if args.listen else None
    except ValidationError:
        raise ConfigError(f"--listen {args.listen!r}: expected HOST:PORT") from None
    settings = ProxySettings.resolve(
        config_file=args.config,
        db=args.db,
        data_dir=args.data_dir,
        listen_host=listen.listen_host if listen else None,
        listen_port=listen.listen_port if listen else None,
        port_file=args.port_file,
        refresh_s=args.refresh,
        workers=args.workers,
    )
    extra: dict[str, str] = {}
    for item in args.extra:
        name, _, value = item.partition("=")
        extra[name] = value
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
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except PhiWallError as err:
        print(f"phiwall proxy: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 0
    return 0
