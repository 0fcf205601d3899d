"""Every bundle part is checked in full: the shadow model (finite, shaped for this feature
version, smoke-predicted), the catalog and the policy; by the library, the publisher tools
(`build`, `verify`, `sign`) and the agent alike. Plus the remedies and limits operators see."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from agent.cli import main
from agent.config import Config
from agent.shadow.classifier import ShadowModelError
from agent.shadow.model_check import check_shadow_model
from agent.updates.bundle import parse_bundle
from agent.updates.errors import RejectCode, UpdateRejected, remedy
from agent.updates.source import SHIPPED_ROOT, shipped_bundle
from phiwall_publish.cli import main as publish_main
from tests.integration.signatures.kit import bundle_document, make_repository, raw_bundle, service, tiny_shadow_model

N = len(tiny_shadow_model()["coef"])


def test_the_shipped_model_and_the_kit_model_pass() -> None:
    shipped = check_shadow_model(shipped_bundle().models["shadow_classifier"])
    assert len(shipped.vocabulary) > 1000
    assert check_shadow_model(tiny_shadow_model()).version == "tiny"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"coef": [math.nan] * N}, f"{N} of {N} coefficients are not finite"),
        ({"coef": [0.5] * (N - 1) + [math.inf]}, "not finite (first at index"),
        ({"intercept": math.nan}, "intercept must be finite"),
        ({"threshold": math.nan}, "threshold must be finite"),
        ({"coef": [0.5] * (N + 2)}, f"coef has {N + 2} values for {N} vocabulary features"),
        ({"coef": [[0.5] * N]}, "one flat list"),
        ({"intercept": [0.0]}, "intercept must be one number"),
        ({"feature_version": 3}, "feature version 3"),
        ({"vocabulary": [f"pixel:{i}" for i in range(N)]}, "not features of version"),
        ({"coef": [-c for c in tiny_shadow_model()["coef"]]}, "fails the smoke prediction"),
        ({"coef": [0.0] * N}, "fails the smoke prediction"),
        ({"format": "sklearn-pickle"}, "format is not"),
    ],
    ids=[
        "nan",
        "inf",
        "nan-intercept",
        "nan-threshold",
        "long",
        "nested",
        "list-intercept",
        "features",
        "foreign-vocabulary",
        "inverted",
        "all-zero",
        "format",
    ],
)
def test_broken_models_are_named(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(ShadowModelError, match=None) as info:
        check_shadow_model(tiny_shadow_model(**changes))
    assert words in str(info.value)


def _bundle(**changes: Any) -> bytes:
    return raw_bundle({**bundle_document("2026.1.1"), **changes})


def test_bundle_gate_names_the_part_and_the_code() -> None:
    with pytest.raises(UpdateRejected) as info:
        parse_bundle(_bundle(models={"shadow_classifier": tiny_shadow_model(coef=[math.nan] * N)}))
    assert info.value.code == "model"
    assert "model 'shadow_classifier'" in str(info.value)
    with pytest.raises(UpdateRejected) as info:
        parse_bundle(_bundle(models={"face_matcher": {"w": [1]}}))
    assert info.value.code == "model"
    assert "unknown model" in str(info.value)


def test_catalog_and_policy_semantics() -> None:
    empty = bundle_document("2026.1.1")
    empty["catalog"]["services"] = []
    with pytest.raises(UpdateRejected, match="catalog: the catalog has no services") as info:
        parse_bundle(raw_bundle(empty))
    assert info.value.code == "schema"

    shadowing = service("wide", "x.scribe.example", hosts=["*.scribe.example"])
    shadowing["examples"].append("https://api.scribe.example/v1/upload")
    document = bundle_document("2026.1.1", services=[service("scribe", "api.scribe.example"), shadowing])
    with pytest.raises(UpdateRejected, match="routed to"):
        parse_bundle(raw_bundle(document))

    hidden = bundle_document("2026.1.1")
    hidden["policy"] = {"blocked": ["scribe"], "passthrough_hosts": ["*.scribe.example"]}
    with pytest.raises(UpdateRejected, match="blocked service 'scribe' is passed through uninspected"):
        parse_bundle(raw_bundle(hidden))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`phiwall-publish build|sign` (IT), `phiwall signatures verify` (the agent)."""
    code = publish_main(list(args)) if args[0] in ("build", "sign") else main(["signatures", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_publisher_tools_refuse_a_broken_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    broken = tiny_shadow_model(coef=[math.nan] * N)
    (models / "shadow_classifier.json").write_text(json.dumps(broken))
    code, _, err = run(capsys, "build", "--version", "2026.9.1", "--models", str(models), "--out", str(tmp_path / "b"))
    assert code == 5
    assert "model 'shadow_classifier'" in err
    assert "not finite" in err
    assert not (tmp_path / "b").exists()

    bundle_file = tmp_path / "broken.json"
    bundle_file.write_bytes(_bundle(models={"shadow_classifier": broken}))
    code, out, err = run(capsys, "verify", "--json", str(bundle_file))
    assert code == 5
    assert json.loads(out)["code"] == "model"

    repo, _ = make_repository(tmp_path / "it")
    code, _, err = run(
        capsys, "sign", "--repo", str(repo.path), "--keys", str(tmp_path / "it" / "keys"), str(bundle_file)
    )
    assert code == 5
    assert "refusing to publish an invalid bundle" in err
    assert "not finite" in err
    assert repo.published_version() is None


def test_shipped_source_tree_still_builds(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(
        capsys, "build", "--source", str(SHIPPED_ROOT), "--version", "2026.9.2", "--out", str(tmp_path / "b")
    )
    assert code == 0, err
    assert "shadow_classifier" in out


def test_every_failure_kind_has_its_own_remedy() -> None:
    remedies = {code: remedy(code) for code in get_args(RejectCode)}
    assert all(text != remedy("no-such-code") for text in remedies.values()), remedies
    for code in ("model", "schema", "stalled", "expired", "rollback", "bad-signature"):
        assert "signatures install" not in remedies[code], code  # reinstalling cannot fix these
    assert "fetch_deadline" in remedies["stalled"]
    assert "higher --version" in remedies["model"]
    assert "refresh" in remedies["expired"]


@pytest.mark.parametrize(
    "bad",
    [
        {"fetch_deadline": 0},
        {"fetch_stall_timeout": -1},
        {"fetch_min_rate": -5},
        {"retry_initial": 0},
        {"fetch_deadline": "soon"},
    ],
)
def test_fetch_limits_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Config.model_validate({"signatures": bad})
    limits = Config.model_validate({"signatures": {"fetch_deadline": 30, "fetch_min_rate": 0}}).signatures
    assert (limits.fetch_deadline, limits.fetch_min_rate) == (30.0, 0)
