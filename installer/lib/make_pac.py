"""Write the PAC file that sends AI services' traffic to the local PhiWall proxy.

Hosts come from the catalog in force: with `--config`, the agent's (an installed signed
bundle, else the shipped catalog); without, the catalog shipped with the package. Nothing
regenerates the PAC at run time: re-run the installer after catalog changes that add hosts.
AI hosts get `PROXY 127.0.0.1:8080` with NO `DIRECT` fallback: when the agent is down the
browser cannot reach them at all (fails closed) instead of bypassing the inspection.
Every other host goes `DIRECT`, so the workstation keeps working without us.

Catalog patterns map onto PAC matching: exact hosts become an object lookup, `*.vendor.com`
becomes `dnsDomainIs(host, ".vendor.com")`, other wildcards `shExpMatch` (whose `*` also
crosses dots: it can only send a few more hosts to the proxy, never fewer).

Usage: make_pac.py OUTPUT [--proxy HOST:PORT] [--catalog FILE_OR_DIR | --config AGENT_CONFIG]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TEMPLATE = """\
// PhiWall proxy auto-config, generated from catalog {version}. Do not edit: re-run the installer.
// AI services go through the local PhiWall agent; if it is not running they fail (no DIRECT
// fallback), so uploads of clinical recordings cannot bypass inspection.
var PHIWALL = "PROXY {proxy}";
var EXACT = {exact};
var SUFFIXES = {suffixes};
var GLOBS = {globs};

function FindProxyForURL(url, host) {{
  host = host.toLowerCase();
  if (host.charAt(host.length - 1) === ".") host = host.substring(0, host.length - 1);
  if (Object.prototype.hasOwnProperty.call(EXACT, host)) return PHIWALL;
  for (var i = 0; i < SUFFIXES.length; i++) {{
    if (dnsDomainIs(host, SUFFIXES[i])) return PHIWALL;
  }}
  for (var j = 0; j < GLOBS.length; j++) {{
    if (shExpMatch(host, GLOBS[j])) return PHIWALL;
  }}
  return "DIRECT";
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


def render_pac(version: str, patterns: list[str], proxy: str) -> str:
    exact, suffixes, globs = split_patterns(patterns)
    return TEMPLATE.format(
        version=version,
        proxy=proxy,
        exact=json.dumps(dict.fromkeys(exact, 1), indent=0).replace("\n", " "),
        suffixes=json.dumps(suffixes),
        globs=json.dumps(globs),
    )


def catalog_patterns(source: Path | None, config_file: Path | None = None) -> tuple[str, list[str]]:
    if config_file is not None:
        from agent.config import load_config
        from agent.updates.active import load_active

        config = load_config(config_file)
        catalog = load_active(config.data_dir, config).current().catalog
    elif source is not None:
        from agent.updates.source import load_source

        catalog = load_source(source).catalog
    else:
        from agent.updates.active import shipped_signatures

        catalog = shipped_signatures().catalog
    return catalog.version, [pattern for service in catalog.services for pattern in service.hosts]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--proxy", default="127.0.0.1:8080")
    parser.add_argument("--catalog", type=Path, default=None, help="a catalog file, source tree or bundle")
    parser.add_argument("--config", type=Path, default=None, help="use the catalog in force for this agent config")
    args = parser.parse_args()
    version, patterns = catalog_patterns(args.catalog, args.config)
    if not patterns:
        raise SystemExit("make_pac: the catalog lists no hosts")
    text = render_pac(version, patterns, args.proxy)
    tmp = args.output.with_name(f".{args.output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o644)
    tmp.replace(args.output)
    print(f"{args.output}: {len(patterns)} host patterns from catalog {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
