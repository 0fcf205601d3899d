"""Bundles and source trees: every way a bundle or a hand-edited source can be wrong gets a
clear reason naming the file, service and field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from agent.updates.bundle import MAX_MODEL_BYTES, bundle_bytes, parse_bundle, version_key
from agent.updates.errors import UpdateRejected
from agent.updates.source import SourcePaths, build_bundle, load_source, read_manifest
from tests.integration.signatures.kit import bundle_data, bundle_document, service, tiny_shadow_model


def write_source(
    root: Path, services: list[dict[str, object]], *, policy: object = None, models: dict | None = None
) -> Path:
    (root / "catalog").mkdir(parents=True)
    (root / "manifest.yaml").write_text('version: "2026.3.1"\n')
    (root / "catalog" / "a.yaml").write_text(yaml.safe_dump({"services": services}))
    if policy is not None:
        (root / "policy").mkdir()
        (root / "policy" / "default.yaml").write_text(yaml.safe_dump(policy))
    if models is not None:
        (root / "models").mkdir()
        for name, params in models.items():
            (root / "models" / f"{name}.json").write_text(json.dumps(params))
    return root


def test_build_from_source_tree_with_a_checked_model(tmp_path: Path) -> None:
    root = write_source(
        tmp_path / "src",
        [service("scribe", "api.scribe.example")],
        policy={"approved": [{"service": "scribe"}]},
        models={"shadow_classifier": tiny_shadow_model(threshold=0.8)},
    )
    bundle = build_bundle(read_manifest(root))
    assert bundle.version == "2026.3.1"
    assert bundle.catalog.version == "2026.3.1"
    assert bundle.models["shadow_classifier"]["threshold"] == 0.8
    assert bundle.policy.status(bundle.catalog.service("scribe"), {}) == "approved"
    again = parse_bundle(bundle_bytes(bundle))
    assert bundle_bytes(again) == bundle_bytes(bundle)  # canonical bytes: stable hash


def test_models_directory_may_be_absent(tmp_path: Path) -> None:
    root = write_source(tmp_path / "src", [service("scribe", "api.scribe.example")])
    assert build_bundle(read_manifest(root)).models == {}


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ([service("scribe", "api.scribe.example", hosts=["api.*.*"])], "invalid host pattern 'api.*.*'"),
        ([service("scribe", "api.scribe.example", hosts=["https://api.scribe.example"])], "not a URL"),
        ([service("Scribe!", "api.scribe.example")], "is not an id"),
        ([service("scribe", "api.scribe.example", category="astrology")], "category"),
        ([service("scribe", "api.scribe.example", multipart_field=["file"])], "multipart_field"),
        (
            [service("scribe", "api.scribe.example", examples=["https://elsewhere.example/"])],
            "matches none of its hosts",
        ),
        (
            [service("scribe", "api.scribe.example", endpoints=[{"path": "/v1/x", "example": "/v2/x"}])],
            "does not match the path",
        ),
        (
            [
                service(
                    "scribe",
                    "api.scribe.example",
                    endpoints=[{"path": "/ws", "transport": "websocket", "example": "/ws"}],
                )
            ],
            "needs a `stream` shape",
        ),
        (
            [
                service(
                    "scribe", "api.scribe.example", endpoints=[{"path": "/x", "json_base64": ["a..b"], "example": "/x"}]
                )
            ],
            "invalid JSON path",
        ),
        (
            [service("scribe", "api.scribe.example", tenant={"sources": [{"where": "path", "regex": "^/org/(\\w+)"}]})],
            "(?P<tenant>",
        ),
    ],
)
def test_invalid_catalog_entries_are_rejected_naming_file_and_service(
    tmp_path: Path, services: list[dict[str, object]], message: str
) -> None:
    root = write_source(tmp_path / "src", services)
    with pytest.raises(UpdateRejected) as info:
        build_bundle(read_manifest(root))
    assert info.value.code == "schema"
    assert "a.yaml" in str(info.value)
    assert message in str(info.value)


def test_duplicate_hosts_and_ids_across_files(tmp_path: Path) -> None:
    root = write_source(tmp_path / "src", [service("one", "api.same.example")])
    (root / "catalog" / "b.yaml").write_text(yaml.safe_dump({"services": [service("two", "api.same.example")]}))
    with pytest.raises(UpdateRejected, match="claimed by both 'one' and 'two'"):
        build_bundle(read_manifest(root))
    (root / "catalog" / "b.yaml").write_text(yaml.safe_dump({"services": [service("one", "api.other.example")]}))
    with pytest.raises(UpdateRejected, match="duplicate service id 'one'"):
        build_bundle(read_manifest(root))


def test_policy_must_match_the_catalog(tmp_path: Path) -> None:
    root = write_source(
        tmp_path / "src", [service("scribe", "api.scribe.example")], policy={"approved": [{"service": "ghost"}]}
    )
    with pytest.raises(UpdateRejected, match="'ghost' is not in the catalog"):
        build_bundle(read_manifest(root))


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    root = write_source(tmp_path / "src", [service("scribe", "api.scribe.example")])
    (root / "catalog" / "a.yaml").write_text("services:\n  - id: x\n    hosts: [a.example.com\n")
    with pytest.raises(UpdateRejected, match=r"a.yaml line \d+: not valid YAML"):
        build_bundle(read_manifest(root))


def test_model_files_are_bounded_and_must_be_objects(tmp_path: Path) -> None:
    root = write_source(
        tmp_path / "src", [service("scribe", "api.scribe.example")], models={"shadow_classifier": tiny_shadow_model()}
    )
    (root / "models" / "big.json").write_text(json.dumps({"w": [0.5] * (MAX_MODEL_BYTES // 4)}))
    with pytest.raises(UpdateRejected, match=r"big\.json") as info:
        build_bundle(read_manifest(root))
    assert info.value.code == "oversized"
    (root / "models" / "big.json").write_text("[1, 2, 3]")
    with pytest.raises(UpdateRejected, match="must be a JSON object"):
        build_bundle(read_manifest(root))


REJECTIONS: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "oversized": (lambda: b"x" * (9 << 20), "oversized", "limit"),
    "truncated": (lambda: bundle_data("2026.1.1")[:500], "truncated", "ends early"),
    "empty": (lambda: b"\n", "truncated", "empty"),
    "yaml-junk": (lambda: yaml.safe_dump(bundle_document("2026.1.1")).encode(), "schema", "not valid JSON"),
    "trailing-junk": (lambda: bundle_data("2026.1.1") + b" garbage", "schema", "not valid JSON"),
    "not-an-object": (lambda: b"[]", "schema", "not a JSON object"),
    "format": (
        lambda: json.dumps(bundle_document("2026.1.1", format="phiwall-signatures/9")).encode(),
        "schema",
        "unsupported bundle format",
    ),
    "version": (lambda: json.dumps(bundle_document("v1")).encode(), "schema", "dotted numbers"),
    "extra-key": (lambda: json.dumps({**bundle_document("2026.1.1"), "extra": 1}).encode(), "schema", "extra"),
    "nested-too-deeply": (lambda: b"[" * 100_000 + b"]" * 100_000, "schema", "nested too deeply"),
    "deep-model": (
        lambda: (
            json.dumps({**bundle_document("2026.1.1"), "models": {"m": {"a": 1}}})
            .encode()
            .replace(b'{"a": 1}', b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")
        ),
        "schema",
        "nested too deeply",
    ),
    "model-name": (
        lambda: json.dumps({**bundle_document("2026.1.1"), "models": {"Bad Name": {}}}).encode(),
        "schema",
        "model name",
    ),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_parse_bundle_rejections(case: str) -> None:
    make, code, message = REJECTIONS[case]
    with pytest.raises(UpdateRejected) as info:
        parse_bundle(make())
    assert info.value.code == code
    assert message in str(info.value)


def test_catalog_version_must_be_the_bundle_version() -> None:
    document = bundle_document("2026.1.1")
    document["catalog"]["version"] = "2026.1.2"
    with pytest.raises(UpdateRejected, match="differs from bundle version"):
        parse_bundle(json.dumps(document).encode())


def test_versions_compare_numerically() -> None:
    assert version_key("2026.11.22.93000") > version_key("2026.11.3")
    assert version_key("2026.2") < version_key("2026.10")


def test_pinned_sources(tmp_path: Path) -> None:
    root = write_source(tmp_path / "src", [service("scribe", "api.scribe.example")])
    assert load_source(root).catalog.service("scribe") is not None
    single = tmp_path / "one.yaml"
    single.write_text(yaml.safe_dump({"services": [service("solo", "api.solo.example")]}))
    assert [s.id for s in load_source(single).catalog.services] == ["solo"]
    built = tmp_path / "bundle.json"
    built.write_bytes(bundle_data("2026.5.5"))
    assert load_source(built).version == "2026.5.5"


def test_extra_catalog_directories_add_local_services(tmp_path: Path) -> None:
    root = write_source(tmp_path / "src", [service("scribe", "api.scribe.example")])
    extra = tmp_path / "local"
    extra.mkdir()
    (extra / "hospital.yaml").write_text(yaml.safe_dump({"services": [service("in-house", "ai.hospital.example")]}))
    paths = read_manifest(root)
    bundle = build_bundle(SourcePaths(paths.version, paths.catalog, paths.policy, paths.models, (extra,)))
    assert {s.id for s in bundle.catalog.services} == {"scribe", "in-house"}
