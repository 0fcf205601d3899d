"""Zones: which destinations are internal (names with suffix matching, IP ranges, the connected
address), and what the policy and the verdict do with them. Real policy, catalog and router."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import Config, parse_config
from agent.errors import ConfigError
from agent.policy.org import OrgPolicy
from agent.policy.verdict import ClinicalMatch, UploadFacts, decide_upload
from agent.policy.zones import InternalZone, ZoneEntryError, validate_zone_entry
from agent.proxy.routing import Router
from agent.updates.active import load_active

MATCH = ClinicalMatch("asset-1", "audio", 0.93, 1.5)


def test_names_match_by_suffix_and_plain_intranet_names() -> None:
    zone = InternalZone.build(["hospital.example", "pacs.clinic.test"])
    assert zone.name_is_internal("hospital.example")
    assert zone.name_is_internal("pacs.hospital.example")
    assert zone.name_is_internal("a.b.hospital.example")
    assert zone.name_is_internal("pacs.clinic.test")
    assert zone.name_is_internal("fileserver")
    assert not zone.name_is_internal("clinic.test")
    assert not zone.name_is_internal("evilhospital.example")
    assert not zone.name_is_internal("hospital.example.attacker.com")
    assert not zone.name_is_internal("api.openai.com")
    assert not zone.name_is_internal("10.1.2.3"), "addresses are decided by range, not by name"


def test_default_ranges_are_private_link_local_and_loopback() -> None:
    zone = InternalZone.build([])
    for address in ("10.4.5.6", "172.20.0.1", "192.168.1.10", "169.254.10.1", "127.0.0.1", "::1", "fd12::1", "fe80::1"):
        assert zone.address_is_internal(address), address
    for address in ("8.8.8.8", "172.32.0.1", "2606:4700::1111", "pacs.hospital.example"):
        assert not zone.address_is_internal(address), address
    assert zone.address_is_internal("::ffff:10.0.0.1"), "IPv4-mapped IPv6"
    assert not InternalZone.build([], private_ranges=False).address_is_internal("10.4.5.6")
    assert InternalZone.build(["203.0.113.0/24"], private_ranges=False).address_is_internal("203.0.113.7")


@pytest.mark.parametrize("bad", ["", "https://pacs.hospital.example/", "pacs hospital", "-bad.example", "a..b"])
def test_bad_entries_are_rejected(bad: str) -> None:
    with pytest.raises(ZoneEntryError):
        validate_zone_entry(bad)


def test_entries_are_normalised() -> None:
    assert validate_zone_entry("*.Hospital.Example.") == "hospital.example"
    assert validate_zone_entry("10.20.1.0/16") == "10.20.0.0/16"
    assert validate_zone_entry("192.0.2.7") == "192.0.2.7/32"


def test_policy_rejects_bad_zone_entries() -> None:
    with pytest.raises(ValueError, match="internal-zone entry"):
        OrgPolicy.model_validate({"internal_zone": ["http://pacs/"]})


def test_config_zones_section_and_its_errors() -> None:
    config = parse_config('[zones]\ninternal = ["hospital.example", "10.20.0.0/16"]\n')
    assert config.zones.internal == ["hospital.example", "10.20.0.0/16"]
    with pytest.raises(ConfigError, match=r"zones\.internal"):
        parse_config('[zones]\ninternal = ["not a host"]\n')


def test_internal_clinical_media_is_audited_never_blocked() -> None:
    facts = UploadFacts(status="unknown", match=MATCH, has_media=True, internal=True, host="pacs.hospital.example")
    verdict = decide_upload(facts)
    assert (verdict.action, verdict.keep) == ("audit", True)
    assert "internal destination pacs.hospital.example" in verdict.reason
    allowed = decide_upload(
        UploadFacts(status="unknown", match=MATCH, has_media=True, internal=True, clinical_to_internal="allow")
    )
    assert (allowed.action, allowed.keep) == ("allow", False)
    failed = decide_upload(UploadFacts(status="unknown", inspection_error="too large", internal=True, ai_likely=True))
    assert failed.action == "allow"
    public = decide_upload(UploadFacts(status="unknown", match=MATCH, has_media=True))
    assert public.action == "block", "clinical_media_to_unknown still applies to public hosts"


def test_inspection_limit_fails_closed_only_for_ai_destinations() -> None:
    ordinary = decide_upload(UploadFacts(status="unknown", inspection_error="upload exceeds the limit"))
    assert ordinary.action == "allow"
    ai_looking = decide_upload(
        UploadFacts(status="unknown", inspection_error="upload exceeds the limit", ai_likely=True)
    )
    assert ai_looking.action == "block"
    unapproved = decide_upload(UploadFacts(status="unapproved", inspection_error="upload exceeds the limit"))
    assert unapproved.action == "block"


@pytest.fixture
def router(tmp_path: Path) -> Router:
    config = Config.model_validate(
        {"agent": {"data_dir": str(tmp_path)}, "zones": {"internal": ["hospital.example", "openai.com"]}}
    )
    return Router(load_active(tmp_path, config))


def test_router_decides_by_name_then_catalog_then_address(router: Router) -> None:
    pacs = router.destination("pacs.hospital.example", "POST", "/upload", {})
    assert (pacs.internal, pacs.zone, pacs.inspect_mode) == (True, "internal", "after")
    assert not pacs.can_block
    configured = router.destination("api.openai.com", "POST", "/v1/audio/transcriptions", {})
    assert configured.internal, "a configured internal domain is decided by name first"
    gemini = router.destination("generativelanguage.googleapis.com", "POST", "/upload", {}, "10.0.0.5")
    assert gemini.service is not None
    assert not gemini.internal, "a catalog host stays AI whatever it resolves to"
    literal = router.destination("10.1.2.3", "POST", "/upload", {})
    assert literal.internal
    public = router.destination("files.example.org", "POST", "/upload", {})
    assert (public.internal, public.zone, public.inspect_mode) == (False, "public", "inline")
    resolved = router.destination("files.example.org", "POST", "/upload", {}, "192.168.4.20")
    assert resolved.internal, "the connected address decides when the proxy knows it"
    assert not router.destination("files.example.org", "POST", "/upload", {}, "93.184.216.34").internal


def test_no_proxy_entries_list_domains_and_networks() -> None:
    entries = InternalZone.build(["hospital.example"]).no_proxy_entries()
    assert ".hospital.example" in entries
    assert "10.0.0.0/8" in entries
    assert "::1/128" in entries
