"""The mitmproxy master PhiWall runs: the enforcement addons are there, the flow-dumping,
scripting and rewriting ones are not, and `--set` fails clearly on what is left out."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mitmproxy import options
from mitmproxy.tools.dump import DumpMaster

from agent.errors import ConfigError
from agent.proxy.master import enforcement_master
from agent.proxy.runner import set_extra_options

ENFORCEMENT = {
    "block",
    "core",
    "disableh2c",
    "errorcheck",
    "nextlayer",
    "proxyserver",
    "stripdnshttpsrecords",
    "tlsconfig",
    "upstreamauth",
}
"""What blocking relies on: loopback-only clients, TLS interception, no h2c or ECH detours,
an upstream proxy, startup errors that stop the process."""
LEFT_OUT = {
    "save",
    "savehar",
    "scriptloader",
    "onboarding",
    "maplocal",
    "modifybody",
    "serverplayback",
    "readfilestdin",
}
"""Dumping bodies to disk, running scripts, serving mitm.it, rewriting or replaying traffic."""


def _addon_names(master: Any) -> set[str]:
    return set(master.addons.lookup)


def test_the_enforcement_addons_are_kept_and_the_rest_left_out() -> None:
    async def build() -> tuple[set[str], set[str]]:
        ours = _addon_names(enforcement_master(options.Options()))
        mitmdump = _addon_names(DumpMaster(options.Options(), with_termlog=False, with_dumper=False))
        return ours, mitmdump

    ours, mitmdump = asyncio.run(build())
    assert ours >= ENFORCEMENT
    assert not ours & LEFT_OUT
    assert mitmdump >= LEFT_OUT  # the names are mitmproxy's: a rename would make this test vacuous
    assert ours < mitmdump


def test_set_parses_values_as_mitmproxy_does() -> None:
    async def apply() -> tuple[bool, str]:
        master = enforcement_master(options.Options())
        set_extra_options(master.options, {"block_global": "false", "ssl_verify_upstream_trusted_ca": "/ca.pem"})
        return master.options.block_global, master.options.ssl_verify_upstream_trusted_ca

    assert asyncio.run(apply()) == (False, "/ca.pem")


@pytest.mark.parametrize(
    ("extra", "named"),
    [({"save_stream_file": "/tmp/flows"}, "save_stream_file"), ({"block_global": "maybe"}, "block_global")],
)
def test_set_of_a_missing_option_or_a_bad_value_is_a_config_error(extra: dict[str, str], named: str) -> None:
    async def apply() -> None:
        set_extra_options(enforcement_master(options.Options()).options, extra)

    with pytest.raises(ConfigError, match=named):
        asyncio.run(apply())
