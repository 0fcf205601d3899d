"""The agent's configuration: one TOML file, validated, with errors that name the bad key.

Lookup order for the file: `--config FILE`, then `$PHIWALL_CONFIG`, then the platform config
dir (`~/.config/phiwall/config.toml` on Linux). A file named explicitly must exist; the
default file may be absent, in which case the embedded defaults apply (SQLite store under the
data dir, the shipped catalog, proxy on 127.0.0.1:8080, no clinical folders).
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent import paths
from agent.config_location import config_path as config_path
from agent.environment import environment
from agent.errors import ConfigError

PolicyMode = Literal["enforce", "audit", "off"]


class _Section(BaseModel):
    # Unknown keys are errors: a typo like `folder =` must not silently disable watching.
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentSection(_Section):
    id: str | None = Field(default=None, description="stable agent id; generated and kept in the data dir")
    data_dir: Path | None = Field(default=None, description="where the store, CA and bundles live")


class StoreSection(_Section):
    url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite under data_dir")
    fleet_url: str | None = Field(default=None, description="PostgreSQL fleet store events are forwarded to")


def _parse_listen(value: str) -> tuple[str, int]:
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 0..65535")
    host = host.strip("[]")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IP address or 'localhost'") from None
    return host, port


class ProxySection(_Section):
    listen: str = Field(default="127.0.0.1:8080", description="proxy listen address HOST:PORT")
    passthrough_hosts: list[str] = Field(
        default_factory=list, description="host patterns never intercepted (banking, EHR, OS updates)"
    )
    max_inspect_mb: Annotated[int, Field(ge=1, le=4096)] = 256

    @field_validator("listen")
    @classmethod
    def _valid_listen(cls, value: str) -> str:
        _parse_listen(value)
        return value

    @property
    def listen_host(self) -> str:
        return _parse_listen(self.listen)[0]

    @property
    def listen_port(self) -> int:
        return _parse_listen(self.listen)[1]


class WatchSection(_Section):
    folders: list[Path] = Field(default_factory=list, description="clinical folders watched recursively")
    poll: bool = Field(default=False, description="use polling (network shares)")
    retention_days: Annotated[int, Field(ge=0)] = Field(
        default=0, description="forget prints of deleted files after N days; 0 keeps them"
    )
    quiet_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=10.0, description="a file is complete when its size and mtime are stable this long"
    )


class FleetSection(_Section):
    """Fleet mode (store.fleet_url): forwarding, fingerprint sync and its bound, heartbeats."""

    sync_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=30.0, description="how often events are forwarded and fingerprints synced"
    )
    batch: Annotated[int, Field(ge=1, le=10_000)] = Field(default=500, description="rows per fleet round trip")
    max_assets: Annotated[int, Field(ge=1)] = Field(
        default=50_000, description="most fleet assets kept in the local index (most recent first)"
    )
    max_age_days: Annotated[int, Field(ge=0)] = Field(
        default=0, description="pull only assets enrolled in the last N days; 0: no age bound"
    )


SiemTransport = Literal["tcp", "tls", "file"]
SiemFormat = Literal["ocsf", "cef"]
SyslogFacility = Literal[
    "kern", "user", "daemon", "auth", "authpriv", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7",
]  # fmt: skip


class SiemDestination(_Section):
    """One SIEM destination: syslog over TCP or TLS (RFC 5424, octet-counted), or a JSON-lines file."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="stable id: the outbox cursor is kept under it")
    transport: SiemTransport
    format: SiemFormat = Field(default="ocsf", description="ocsf (JSON) or cef")
    host: str | None = Field(default=None, description="syslog receiver (tcp/tls)")
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    ca_file: Path | None = Field(default=None, description="CA that signs the receiver's certificate; default: system")
    client_cert: Path | None = Field(default=None, description="PEM client certificate (mutual TLS)")
    client_key: Path | None = Field(default=None, description="its private key, when not in client_cert")
    server_name: str | None = Field(default=None, description="name the certificate must carry; default host")
    facility: SyslogFacility = "local0"
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    path: Path | None = Field(default=None, description="JSON-lines file (file transport)")
    max_bytes: Annotated[int, Field(ge=4096)] = Field(default=100 * 1024 * 1024, description="rotate beyond this size")
    backups: Annotated[int, Field(ge=0, le=1000)] = Field(default=5, description="rotated files kept")
    file_mode: Annotated[int, Field(ge=0, le=0o777)] = Field(default=0o640, description="mode of a new file")

    @model_validator(mode="after")
    def _complete(self) -> SiemDestination:
        if self.transport in ("tcp", "tls") and (not self.host or self.port is None):
            raise ValueError(f"destination {self.name!r}: transport {self.transport} needs host and port")
        if self.transport == "file" and self.path is None:
            raise ValueError(f"destination {self.name!r}: transport file needs path")
        if self.transport != "tls" and (self.ca_file or self.client_cert or self.client_key):
            raise ValueError(f"destination {self.name!r}: ca_file/client_cert/client_key need transport tls")
        if self.client_key and not self.client_cert:
            raise ValueError(f"destination {self.name!r}: client_key needs client_cert")
        return self


class SiemSection(_Section):
    """SIEM forwarding of events and triage actions (docs/siem.md)."""

    destinations: list[SiemDestination] = Field(default_factory=list)
    batch: Annotated[int, Field(ge=1, le=10_000)] = Field(default=500, description="records per delivery")
    poll_seconds: Annotated[float, Field(gt=0, le=60)] = Field(default=1.0, description="how often the outbox is read")

    @field_validator("destinations")
    @classmethod
    def _unique_names(cls, value: list[SiemDestination]) -> list[SiemDestination]:
        names = [d.name for d in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"destination names must be unique: {', '.join(duplicates)}")
        return value


class SignaturesSection(_Section):
    catalog: Path | None = Field(default=None, description="catalog file or bundle dir; default: shipped")
    repository: str | None = Field(default=None, description="TUF repository (directory or http(s) URL)")
    trusted_root: Path | None = Field(default=None, description="trusted root.json; default: shipped")
    fetch_deadline: float = Field(
        default=120.0, gt=0, le=3600, description="seconds one update check may take in all (every file it reads)"
    )
    fetch_stall_timeout: float = Field(
        default=15.0, gt=0, le=600, description="seconds without a single byte before a download is abandoned"
    )
    fetch_min_rate: int = Field(
        default=1024, ge=0, le=1 << 30, description="bytes/s a download must average after the grace period; 0: none"
    )
    fetch_rate_grace: float = Field(
        default=5.0, ge=0, le=600, description="seconds a download may start slowly before the minimum rate applies"
    )
    retry_initial: float = Field(
        default=30.0, gt=0, le=86400, description="first retry after an unreachable or stalled check (then doubles)"
    )


class ZonesSection(_Section):
    """Local additions to the policy's internal zone (agent.policy.zones)."""

    internal: list[str] = Field(
        default_factory=list,
        description="internal domains (suffix match), hosts and IP networks: clinical media there is only audited",
    )

    @field_validator("internal")
    @classmethod
    def _valid_entries(cls, value: list[str]) -> list[str]:
        from agent.policy.zones import validate_zone_entry

        for entry in value:
            validate_zone_entry(entry)
        return value


class PolicySection(_Section):
    mode: PolicyMode = Field(
        default="enforce",
        description="enforce: block clinical uploads; audit: record but never block; off: pass all",
    )


class Config(_Section):
    agent: AgentSection = Field(default_factory=AgentSection)
    store: StoreSection = Field(default_factory=StoreSection)
    proxy: ProxySection = Field(default_factory=ProxySection)
    watch: WatchSection = Field(default_factory=WatchSection)
    fleet: FleetSection = Field(default_factory=FleetSection)
    signatures: SignaturesSection = Field(default_factory=SignaturesSection)
    policy: PolicySection = Field(default_factory=PolicySection)
    zones: ZonesSection = Field(default_factory=ZonesSection)
    siem: SiemSection = Field(default_factory=SiemSection)
    source: Path | None = Field(default=None, exclude=True, description="file this was read from")

    @property
    def data_dir(self) -> Path:
        return self.agent.data_dir.expanduser() if self.agent.data_dir else paths.default_data_dir()

    def store_url(self, override: str | None = None) -> str:
        """The store URL: `--db`, then `$PHIWALL_DB`, then `store.url`, then embedded SQLite."""
        for candidate in (override, environment().db, self.store.url):
            if candidate:
                return candidate
        return f"sqlite:///{self.data_dir / 'phiwall.db'}"


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{key}: {message}"


def parse_config(text: str, source: Path | None = None) -> Config:
    """Validate TOML text; errors name the file and the dotted key that is wrong."""
    where = str(source) if source else "config"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}", hint="fix the syntax") from None
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(dict(e)) for e in exc.errors())
        raise ConfigError(f"{where}: {problems}", hint="see docs/configuration.md") from None
    return config.model_copy(update={"source": source})


def load_config(explicit: Path | str | None = None) -> Config:
    path, must_exist = config_path(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if must_exist:
            raise ConfigError(
                f"config file {path} does not exist",
                hint="create it (`phiwall config init`) or drop --config/$PHIWALL_CONFIG",
            ) from None
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    return parse_config(text, path)


EXAMPLE_CONFIG = """\
# PhiWall agent configuration. Every key is optional; shown values are the defaults.

[agent]
# id = "ward-7-ws-12"           # default: generated once and kept in the data dir
# data_dir = "/var/lib/phiwall"  # default: platform data dir ($PHIWALL_DATA_DIR overrides)

[store]
# url = "sqlite:////var/lib/phiwall/phiwall.db"   # or postgresql+psycopg://user@host/db
# fleet_url = "postgresql+psycopg://phiwall@fleet-db/phiwall"

[proxy]
listen = "127.0.0.1:8080"
passthrough_hosts = []           # e.g. ["*.bank.example", "ehr.hospital.local"]
max_inspect_mb = 256

[watch]
folders = []                     # e.g. ["/srv/dictations", "/home/*/Recordings"]
poll = false
retention_days = 0
quiet_seconds = 10.0             # a file is enrolled once unchanged this long

[fleet]                          # used when store.fleet_url is set
sync_seconds = 30.0
batch = 500
max_assets = 50000               # bound on fleet fingerprints kept locally (newest first)
max_age_days = 0

[signatures]
# catalog = "/etc/phiwall/catalog.yaml"   # default: the shipped catalog / installed bundle
# repository = "https://phiwall-updates.hospital.local/"
# trusted_root = "/etc/phiwall/root.json"

[policy]
mode = "enforce"                 # enforce | audit | off

[zones]
# The hospital's own destinations, added to the policy's internal zone: clinical media sent
# there passes and is audited. Private, link-local and loopback ranges are internal already.
internal = []                    # e.g. ["hospital.example", "pacs.local", "10.20.0.0/16"]

[siem]                           # SIEM forwarding (docs/siem.md); none by default
batch = 500
poll_seconds = 1.0
# [[siem.destinations]]
# name = "soc"
# transport = "tls"              # tcp | tls | file
# format = "ocsf"                # ocsf | cef
# host = "siem.hospital.local"
# port = 6514
# ca_file = "/etc/phiwall/siem-ca.pem"
# [[siem.destinations]]
# name = "splunk-file"
# transport = "file"
# path = "/var/log/phiwall/siem.jsonl"
# max_bytes = 104857600
# backups = 5
"""
