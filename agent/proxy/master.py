"""The mitmproxy master PhiWall runs: only the mitmproxy addons enforcement needs.

`mitmdump` (mitmproxy's `DumpMaster`) loads about thirty addons, and mitmproxy walks every
one of them for every event of every flow (four hooks per request, each followed by an
`update` event): that walk is about 40 % of mitmproxy's CPU per request on a 2 KB POST
(docs/proxy.md, "The mitmproxy master"). PhiWall needs the transport and TLS ones; the others are
features of an interactive or scripted proxy that a DLP agent must not offer anyway:
saving flows to disk (`save`, `savehar`: request bodies are PHI), loading scripts
(`script`), rewriting or replaying traffic (`map*`, `modify*`, `*playback`, `sticky*`,
`anti*`), the `mitm.it` certificate page (`onboarding`: the installer provisions the CA),
`blocklist`, `proxyauth` (the proxy only listens on loopback: agent.proxy.addons.loopback)
and the console helpers (`browser`, `comment`, `cut`, `export`, `command_history`,
`readfile`, `keepserving`). Their options do not exist in PhiWall's proxy, so setting one
(`--set save_stream_file=...`) is an error at start, not a silent leak.
"""

from __future__ import annotations

from typing import Any

from mitmproxy import master, options
from mitmproxy.addons import (
    block,
    core,
    disable_h2c,
    dns_resolver,
    errorcheck,
    next_layer,
    proxyserver,
    strip_dns_https_records,
    tlsconfig,
    update_alt_svc,
    upstream_auth,
)


def enforcement_addons() -> list[Any]:
    """mitmproxy's own addons PhiWall keeps, in mitmproxy's default order."""
    return [
        core.Core(),  # option checks, core commands
        block.Block(),  # refuses clients from other hosts (block_global / block_private)
        strip_dns_https_records.StripDnsHttpsRecords(),  # no ECH / HTTP/3 hints that bypass inspection
        disable_h2c.DisableH2C(),  # no cleartext HTTP/2 upgrade past the HTTP/1 parser
        proxyserver.Proxyserver(),  # type: ignore[no-untyped-call]  # listens, runs the connection layers
        dns_resolver.DnsResolver(),
        next_layer.NextLayer(),  # which protocol layer each connection gets
        tlsconfig.TlsConfig(),  # the PhiWall CA, upstream certificate checks
        upstream_auth.UpstreamAuth(),  # a hospital's upstream proxy (mode upstream:...)
        update_alt_svc.UpdateAltSvc(),
        errorcheck.ErrorCheck(),  # startup errors (address in use, bad options) end the process
    ]


def enforcement_master(opts: options.Options) -> master.Master:
    """A mitmproxy master with `enforcement_addons()`; add PhiWall's addon, then set options."""
    built = master.Master(opts, with_termlog=False)
    addons: Any = built.addons
    addons.add(*enforcement_addons())
    return built
