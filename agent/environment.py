"""Every `PHIWALL_*` environment variable the programs read, typed and validated in one place.

Settings come from the command line, then the environment, then the config file. The config
file has its own pydantic model (`agent.config`); this is the environment's: one object
instead of `os.environ.get` calls spread over the code, so each variable has one name, one
type and one documented meaning (docs/configuration.md, "The environment"). A malformed value
is a `ConfigError` naming the variable, never a traceback or a silent default. Empty values
count as unset.

Deliberately not pydantic-settings: the console reads `PHIWALL_DATA_DIR` and `PHIWALL_CONFIG`
before its first frame, and importing pydantic there costs about a quarter of a second of the
one-second first-paint budget. Four scalar types need no library.

It is read when needed (`environment()`), not cached: tests and the CLI may set variables
between reads, and a read costs microseconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from agent.errors import ConfigError

PREFIX = "PHIWALL_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise ValueError(f"expected one of {', '.join(sorted(_TRUE | _FALSE))}")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("expected a number") from None


_PARSERS: dict[str, Callable[[str], object]] = {
    "Path | None": lambda text: Path(text).expanduser(),
    "str | None": str,
    "str": str,
    "bool": _boolean,
    "float | None": _number,
}


@dataclass(frozen=True)
class Environment:
    """The variables, without their `PHIWALL_` prefix (docs/configuration.md lists them)."""

    config: Path | None = None
    """Configuration file to read (it must exist when named)."""
    data_dir: Path | None = None
    """Data dir: store, CA, signatures, state."""
    db: str | None = None
    """Store URL, after --db and before `store.url`."""
    log_level: str = "INFO"
    mitmproxy_log_level: str = "WARNING"
    debug: bool = False
    """Tracebacks instead of one-line errors."""
    analyst: str | None = None
    """The name the console records on triage."""
    notify_socket: str | None = None
    signatures_poll_seconds: float | None = None
    updates_ca_file: Path | None = None
    """CA bundle for an HTTPS signature repository."""
    index_spill_dir: Path | None = None
    """Keep the media index's big arrays in memory-mapped files there (agent.media.spill)."""
    # The Windows service's, copied from the MSI's properties (HKLM\SOFTWARE\PhiWall).
    common_appdata: Path | None = None
    """The MSI's CommonAppDataFolder: the data dir's parent unless DATADIR was given."""
    fleet_url: str | None = None
    """FLEETURL: written into config.toml on the service's first start."""
    signature_repository: str | None = None
    """SIGNATUREREPOSITORY: written into config.toml on the service's first start."""
    pac_url: str | None = None
    """The PAC URL the machine proxy settings point at."""
    proxy: str | None = None
    """HOST:PORT of the agent's proxy for WinHTTP."""

    @classmethod
    def from_mapping(cls, variables: Mapping[str, str]) -> Environment:
        values: dict[str, object] = {}
        problems = []
        for field in fields(cls):
            name = PREFIX + field.name.upper()
            text = variables.get(name, "")
            if not text.strip():
                continue
            try:
                values[field.name] = _PARSERS[str(field.type)](text)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            raise ConfigError(f"environment: {'; '.join(problems)}", hint="fix or unset the variable")
        return cls(**values)  # type: ignore[arg-type]


def environment() -> Environment:
    """The environment now, or a ConfigError that names the malformed variable."""
    return Environment.from_mapping(os.environ)


def prepend_to_search_path(folder: Path) -> None:
    """Put `folder` first on PATH, once: on Windows ctypes' `find_library` (which pyacoustid and
    python-magic call) searches PATH only, so the DLLs the MSI bundles must be on it."""
    entries = [entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry]
    if str(folder) not in entries:
        os.environ["PATH"] = os.pathsep.join([str(folder), *entries])
