"""Network zones: which destinations are the hospital's own (internal) and which are the public internet.

Hospitals send clinical media to their own systems every day (PACS, EHR, file shares): those
uploads must never be blocked, only audited. The boundary PhiWall enforces is the public
internet: AI services (the catalog) and unknown public hosts. A destination is `internal` when

1. its name is a configured internal entry or ends with ``.`` + one (suffix matching:
   ``hospital.example`` covers ``pacs.hospital.example``), or it is a plain single-label
   intranet name (``pacs``, ``fileserver``) — decided by name first, before the catalog;
2. it is a literal IP address inside an internal network (by default the private, shared
   link-local and loopback ranges, plus configured CIDR networks);
3. or the address the proxy actually connected to for it is inside one (when the proxy knows
   it; PhiWall never resolves names itself, so a decision never waits for DNS).

Catalogued AI hosts are matched before rules 2 and 3, so a catalog host that resolves to a
private address (a split-horizon gateway) is still treated as the AI service it is.

Entries are given as one list (policy `internal_zone`, config `zones.internal`): an entry that
parses as an IP network (``10.20.0.0/16``, ``192.0.2.7``) is a network; anything else is a
domain name.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

Zone = Literal["internal", "public"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PRIVATE_RANGES: tuple[str, ...] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "127.0.0.0/8",
    "fc00::/7",
    "fe80::/10",
    "::1/128",
)
"""RFC 1918 private, RFC 3927 link-local, loopback, IPv6 unique-local, link-local and loopback."""

_NAME = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9_-]{1,63}(?<!-))*$")


class ZoneEntryError(ValueError):
    """An internal-zone entry is neither an IP network nor a host/domain name."""


def parse_network(entry: str) -> IPNetwork | None:
    """The IP network an entry names, or None when it is a name."""
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return None


def validate_zone_entry(entry: str) -> str:
    """The normalised entry (lower-case, no trailing dot, no leading ``*.``/``.``) or `ZoneEntryError`."""
    text = entry.strip().lower().rstrip(".")
    if not text:
        raise ZoneEntryError("empty internal-zone entry")
    if parse_network(text) is not None:
        return str(parse_network(text))
    if text.startswith("*."):
        text = text[2:]  # "*.hospital.example" means what "hospital.example" already does
    text = text.lstrip(".")
    if not _NAME.match(text) or len(text) > 253:
        raise ZoneEntryError(f"invalid internal-zone entry {entry!r}: expected a domain, a host or an IP network")
    return text


def _ip_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class InternalZone:
    """The hospital's own destinations: names (suffix matching) and IP networks."""

    domains: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    plain_hostnames: bool = True
    """Single-label names (no dot, not an IP) are intranet hosts."""
    _ip_cache: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls, entries: Iterable[str], *, private_ranges: bool = True, plain_hostnames: bool = True
    ) -> InternalZone:
        domains: set[str] = set()
        networks: list[IPNetwork] = [ipaddress.ip_network(r) for r in PRIVATE_RANGES] if private_ranges else []
        for entry in entries:
            text = validate_zone_entry(entry)
            network = parse_network(text)
            if network is not None:
                networks.append(network)
            else:
                domains.add(text)
        return cls(frozenset(domains), tuple(networks), plain_hostnames)

    def name_is_internal(self, host: str) -> bool:
        """Rule 1: a configured name or a subdomain of one, or a plain intranet name. `host` is normalised."""
        if not host or _ip_of(host) is not None:
            return False
        if "." not in host:
            return self.plain_hostnames or host in self.domains
        if not self.domains:
            return False
        labels = host.split(".")
        return any(".".join(labels[start:]) in self.domains for start in range(len(labels)))

    def address_is_internal(self, address: str) -> bool:
        """Rules 2 and 3: an IP address inside an internal network (False for names)."""
        cached = self._ip_cache.get(address)
        if cached is not None:
            return cached
        ip = _ip_of(address)
        if ip is None:
            inside = False
        else:
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            inside = any(ip.version == net.version and ip in net for net in self.networks)
        if len(self._ip_cache) < 4096:
            self._ip_cache[address] = inside
        return inside

    def no_proxy_entries(self) -> list[str]:
        """What `no_proxy` lists so command-line tools reach internal destinations directly.

        Domains are given with a leading dot (suffix match in curl, requests, Go and Node);
        networks in CIDR form (understood by curl >= 7.86, Go, Python's requests via urllib).
        """
        return sorted(f".{d}" for d in self.domains) + [str(n) for n in self.networks]


@lru_cache(maxsize=64)
def internal_zone(entries: tuple[str, ...], private_ranges: bool = True, plain_hostnames: bool = True) -> InternalZone:
    """The zone for these settings (shared: policies with the same settings share one cache)."""
    return InternalZone.build(entries, private_ranges=private_ranges, plain_hostnames=plain_hostnames)
