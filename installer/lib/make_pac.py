"""Write the PAC file that sends AI and unknown public traffic to the local PhiWall proxy.

Hosts and zones come from the signatures in force: with `--config`, the agent's (an installed
signed bundle, else the shipped catalog, plus the config's `zones.internal`); without, the
catalog and policy shipped with the package. Nothing regenerates the PAC at run time: re-run
the installer after catalog or zone changes. Three answers, checked in this order:

- internal zone (agent.policy.zones: plain intranet names, configured internal domains with
  suffix matching, IP literals in internal networks) -> `DIRECT`: the hospital's own systems
  never depend on the agent;
- AI hosts (the catalog) -> `PROXY 127.0.0.1:8080` with NO `DIRECT` fallback: when the agent
  is down the browser cannot reach them at all (fails closed) instead of bypassing inspection;
- every other (public) host -> `PROXY 127.0.0.1:8080; DIRECT`: inspected (clinical media to
  unknown hosts, shadow-AI discovery), and the workstation keeps working when the agent is down.

The PAC never resolves names (no `isInNet` on a name: a DNS lookup per request blocks the
browser); a name that resolves to a private address is recognised by the agent instead.

`--print-no-proxy` prints the matching `no_proxy` value for command-line tools instead.

Catalog patterns map onto PAC matching: exact hosts become an object lookup, `*.vendor.com`
becomes `dnsDomainIs(host, ".vendor.com")`, other wildcards `shExpMatch` (whose `*` also
crosses dots: it can only send a few more hosts to the proxy, never fewer).

Usage: make_pac.py OUTPUT [--proxy HOST:PORT] [--catalog FILE_OR_DIR | --config AGENT_CONFIG]
       make_pac.py --print-no-proxy [--catalog FILE_OR_DIR | --config AGENT_CONFIG]
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import click

from agent.policy.zones import InternalZone

TEMPLATE = """\
// PhiWall proxy auto-config, generated from catalog {version}. Do not edit: re-run the installer.
// Internal destinations go direct; AI services go through the local PhiWall agent and fail when
// it is not running (no DIRECT fallback), so clinical uploads cannot bypass inspection; other
// public hosts go through the agent, or direct when it is down.
var PHIWALL = "PROXY {proxy}";
var PUBLIC = "PROXY {proxy}; DIRECT";
var PLAIN_INTERNAL = {plain};
var INTERNAL_DOMAINS = {domains};
var INTERNAL_V4 = {v4};
var INTERNAL_V6 = {v6};
var EXACT = {exact};
var SUFFIXES = {suffixes};
var GLOBS = {globs};

function v4Number(ip) {{
  var p = ip.split(".");
  return ((+p[0] * 256 + +p[1]) * 256 + +p[2]) * 256 + +p[3];
}}

function isInternal(host) {{
  if (/^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$/.test(host)) {{
    var n = v4Number(host);
    for (var k = 0; k < INTERNAL_V4.length; k++) {{
      if (n >= INTERNAL_V4[k][0] && n <= INTERNAL_V4[k][1]) return true;
    }}
    return false;
  }}
  if (host.indexOf(":") >= 0) {{
    for (var m = 0; m < INTERNAL_V6.length; m++) {{
      var v6 = INTERNAL_V6[m];
      if (v6.charAt(0) === "=" ? host === v6.substring(1) : host.indexOf(v6) === 0) return true;
    }}
    return false;
  }}
  if (host.indexOf(".") < 0) return PLAIN_INTERNAL;
  for (var d = 0; d < INTERNAL_DOMAINS.length; d++) {{
    var domain = INTERNAL_DOMAINS[d];
    if (host === domain || dnsDomainIs(host, "." + domain)) return true;
  }}
  return false;
}}

function FindProxyForURL(url, host) {{
  host = host.toLowerCase();
  if (host.charAt(0) === "[") host = host.substring(1, host.length - 1);
  if (host.charAt(host.length - 1) === ".") host = host.substring(0, host.length - 1);
  if (isInternal(host)) return "DIRECT";
  if (Object.prototype.hasOwnProperty.call(EXACT, host)) return PHIWALL;
  for (var i = 0; i < SUFFIXES.length; i++) {{
    if (dnsDomainIs(host, SUFFIXES[i])) return PHIWALL;
  }}
  for (var j = 0; j < GLOBS.length; j++) {{
    if (shExpMatch(host, GLOBS[j])) return PHIWALL;
  }}
  return PUBLIC;
}}
"""


def split_patterns(patterns: list[str]) -> tuple[list[str], list[str], list[str]]:
    exact: set[str] = set()
    suffixes: set[str] = set()
    globs: set[str] = set()
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".")
        if "*" not in pattern:
            exact.add(pattern)
        elif pattern.startswith("*.") and "*" not in pattern[2:]:
            suffixes.add(pattern[1:])  # ".vendor.com": one or more labels, not the apex
        else:
            globs.add(pattern)
    return sorted(exact), sorted(suffixes), sorted(globs)


def _v6_prefix(network: ipaddress.IPv6Network) -> str | None:
    """A textual prefix for the few IPv6 networks a string test can express (whole hextets)."""
    if network.prefixlen == 128:
        return "=" + network.network_address.compressed  # one address: compared whole
    if network.prefixlen == 7 and network.network_address == ipaddress.ip_address("fc00::"):
        return None  # fc00::/7 = "fc" or "fd": listed as two prefixes by _v6_prefixes
    if network.prefixlen % 16:
        return None
    hextets = network.exploded.split("/")[0].split(":")[: network.prefixlen // 16]
    return ":".join(h.lstrip("0") or "0" for h in hextets) + ":"


def _v6_prefixes(networks: list[ipaddress.IPv6Network]) -> list[str]:
    prefixes: list[str] = []
    for network in networks:
        if network == ipaddress.ip_network("fc00::/7"):
            prefixes += ["fc", "fd"]
        elif network == ipaddress.ip_network("fe80::/10"):
            prefixes += ["fe8", "fe9", "fea", "feb"]
        else:
            prefix = _v6_prefix(network)
            if prefix is not None:
                prefixes.append(prefix)
    return prefixes


def render_pac(version: str, patterns: list[str], proxy: str, zone: InternalZone | None = None) -> str:
    exact, suffixes, globs = split_patterns(patterns)
    zone = zone if zone is not None else InternalZone.build([])
    v4 = [
        [int(n.network_address), int(n.broadcast_address)]
        for n in zone.networks
        if isinstance(n, ipaddress.IPv4Network)
    ]
    v6 = _v6_prefixes([n for n in zone.networks if isinstance(n, ipaddress.IPv6Network)])
    return TEMPLATE.format(
        version=version,
        proxy=proxy,
        plain="true" if zone.plain_hostnames else "false",
        domains=json.dumps(sorted(zone.domains)),
        v4=json.dumps(v4),
        v6=json.dumps(v6),
        exact=json.dumps(dict.fromkeys(exact, 1), indent=0).replace("\n", " "),
        suffixes=json.dumps(suffixes),
        globs=json.dumps(globs),
    )


def no_proxy_value(zone: InternalZone) -> str:
    """`no_proxy` for command-line tools: localhost plus the internal zone (domains, networks)."""
    return ",".join(dict.fromkeys(["localhost", "127.0.0.1", "::1", *zone.no_proxy_entries()]))


def load_signatures(source: Path | None, config_file: Path | None = None) -> tuple[str, list[str], InternalZone]:
    """(catalog version, AI host patterns, internal zone) of the signatures in force."""
    if config_file is not None:
        from agent.config import load_config
        from agent.updates.active import load_active

        config = load_config(config_file)
        current = load_active(config.data_dir, config).current()
        catalog, policy = current.catalog, current.policy
    elif source is not None:
        from agent.updates.source import load_source

        bundle = load_source(source)
        catalog, policy = bundle.catalog, bundle.policy
    else:
        from agent.updates.active import shipped_signatures

        shipped = shipped_signatures()
        catalog, policy = shipped.catalog, shipped.policy
    patterns = [pattern for service in catalog.services for pattern in service.hosts]
    return catalog.version, patterns, policy.internal


def catalog_patterns(source: Path | None, config_file: Path | None = None) -> tuple[str, list[str]]:
    version, patterns, _ = load_signatures(source, config_file)
    return version, patterns


@click.command(help=(__doc__ or "").splitlines()[0])
@click.argument("output", type=click.Path(path_type=Path), required=False)
@click.option("--proxy", default="127.0.0.1:8080", show_default=True, help="HOST:PORT of the agent's proxy")
@click.option("--catalog", type=click.Path(path_type=Path), default=None, help="a catalog file, source tree or bundle")
@click.option(
    "--config", type=click.Path(path_type=Path), default=None, help="use the catalog in force for this agent config"
)
@click.option("--print-no-proxy", is_flag=True, help="print the no_proxy value and exit")
def main(output: Path | None, proxy: str, catalog: Path | None, config: Path | None, print_no_proxy: bool) -> None:
    version, patterns, zone = load_signatures(catalog, config)
    if print_no_proxy:
        click.echo(no_proxy_value(zone))
        return
    if output is None:
        raise click.UsageError("OUTPUT is required (or --print-no-proxy)")
    if not patterns:
        raise click.ClickException("the catalog lists no hosts")
    text = render_pac(version, patterns, proxy, zone)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o644)
    tmp.replace(output)
    click.echo(f"{output}: {len(patterns)} host patterns from catalog {version}")


if __name__ == "__main__":
    main()
