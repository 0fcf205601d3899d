"""The proxy process's settings, from the agent config plus its command line.

Both ways of starting the proxy (the embedded child `python -m agent.proxy` and `mitmdump -s
agent/proxy/addon.py` with `--set phiwall_*` options) resolve their settings through
`ProxySettings.resolve`, so the config file, the data dir and the store URL are looked up
in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent.config import Config, PolicyMode, load_config
from agent.identity import ca_dir

STATUS_FILE = "proxy-status.json"


@dataclass(frozen=True)
class ProxySettings:
    config: Config
    store_url: str
    data_dir: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    refresh_s: float = 5.0
    """How often the media index and the signatures are re-checked for changes."""
    workers: int = 2
    """Inspection threads (decode + fingerprint); the machine's cores are a good default."""
    max_jobs: int = 8
    """Uploads inspected or waiting at once; more wait up to `queue_timeout_s`, then fail closed."""
    queue_timeout_s: float = 20.0
    job_timeout_s: float = 60.0
    probe_unknown: bool = True
    """Probe by decoding, and join split uploads, for uploads to AI services (agent.proxy.probing)."""
    probe_floor: int = 64 << 10
    """Unidentified bytes below this are neither probed nor failed closed."""
    unreadable_binary: Literal["block", "pass"] = "block"
    """Unidentified bytes above the floor that no decoder reads, sent to an AI service: an
    inspection error (fails closed for unapproved services) or nothing."""
    guess_realtime_rates: int = 2
    """Other plausible sample rates a realtime audio window is also matched at, per check, in
    turn (0: only the declared rate; 5: all of them every check)."""
    port_file: Path | None = None
    """Where to write HOST:PORT once listening (port 0 in tests and benchmarks)."""

    @property
    def max_inspect_bytes(self) -> int:
        return self.config.proxy.max_inspect_mb << 20

    @property
    def mode(self) -> PolicyMode:
        return self.config.policy.mode

    @property
    def ca_dir(self) -> Path:
        return ca_dir(self.data_dir)

    @property
    def status_file(self) -> Path:
        return self.data_dir / STATUS_FILE

    @classmethod
    def resolve(
        cls,
        *,
        config_file: Path | None,
        db: str | None,
        data_dir: Path | None,
        listen_host: str | None = None,
        listen_port: int | None = None,
        port_file: Path | None = None,
        refresh_s: float = 5.0,
        workers: int = 2,
    ) -> ProxySettings:
        """The settings from a config file and the overrides given on a command line (a listen
        address left out is the config's `proxy.listen`)."""
        config = load_config(config_file)
        if data_dir is not None:
            config = config.model_copy(update={"agent": config.agent.model_copy(update={"data_dir": data_dir})})
        return cls(
            config=config,
            store_url=config.store_url(db),
            data_dir=config.data_dir,
            listen_host=config.proxy.listen_host if listen_host is None else listen_host,
            listen_port=config.proxy.listen_port if listen_port is None else listen_port,
            refresh_s=refresh_s,
            workers=workers,
            port_file=port_file,
        )
