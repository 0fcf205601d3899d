"""The signature bundle: catalog + organisation policy + model parameters in one JSON document.

One JSON file rather than an archive: nothing to unpack (no path traversal, no decompression
bomb), one hash for TUF to sign, and a byte limit that bounds every part. Model parameters are
plain JSON data (never pickle: docs/shadow-ai.md "Model format"); each is size-limited separately so a huge model
cannot hide in an otherwise small bundle.

`parse_bundle` is the single gate every bundle passes (repository, local file, installed copy):
size limit, JSON, schema, cross-checks, then the semantic checks of each part (`parts.py`:
catalog, policy, and every model loaded and smoke-tested). It raises `UpdateRejected` with a
code and a reason naming the part.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent.policy.catalog import Catalog
from agent.policy.org import OrgPolicy
from agent.updates.errors import RejectCode, UpdateRejected
from agent.updates.parts import check_parts

BUNDLE_FORMAT = "phiwall-signatures/1"
BUNDLE_TARGET = "phiwall-bundle.json"  # the TUF target name of the bundle in force
MAX_BUNDLE_BYTES = 8 << 20
MAX_MODEL_BYTES = 2 << 20
MAX_MODELS = 16
_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_VERSION = re.compile(r"^\d{1,10}(\.\d{1,10}){0,5}$")


def _model_name(value: str) -> str:
    if not _MODEL_NAME.match(value):
        raise ValueError(f"model name {value!r}: lower-case letters, digits, '_' and '-' (the file stem)")
    return value


ModelName = Annotated[str, AfterValidator(_model_name)]


def version_key(version: str) -> tuple[int, ...]:
    """Dotted numeric versions compare numerically: 2025.11.22.93000 > 2025.11.3."""
    return tuple(int(part) for part in version.split("."))


def check_version(value: str) -> str:
    if not _VERSION.match(value):
        raise ValueError(f"version {value!r} must be dotted numbers, e.g. 2025.11.22.1")
    return value


class Bundle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = BUNDLE_FORMAT
    version: str
    created: datetime
    catalog: Catalog
    policy: OrgPolicy = Field(default_factory=OrgPolicy)
    models: dict[ModelName, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value != BUNDLE_FORMAT:
            raise ValueError(f"unsupported bundle format {value!r} (this agent reads {BUNDLE_FORMAT})")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        return check_version(value)

    @field_validator("models")
    @classmethod
    def _bounded_models(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if len(value) > MAX_MODELS:
            raise ValueError(f"{len(value)} models: at most {MAX_MODELS}")
        for name, params in value.items():
            size = len(json.dumps(params, separators=(",", ":")))
            if size > MAX_MODEL_BYTES:
                raise ValueError(f"model {name!r} is {size} bytes: limit {MAX_MODEL_BYTES}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Bundle:
        if self.catalog.version != self.version:
            raise ValueError(f"catalog version {self.catalog.version!r} differs from bundle version {self.version!r}")
        problems = self.policy.validate_against(self.catalog)
        if problems:
            raise ValueError("policy: " + "; ".join(problems))
        return self


def bundle_bytes(bundle: Bundle) -> bytes:
    """Canonical serialisation (sorted keys, compact): the bytes that get hashed and signed."""
    data = bundle.model_dump(mode="json", exclude_defaults=False)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def describe_validation(exc: ValidationError, document: Any = None) -> str:
    """Name the service (by id) and field of each problem, not just list indices."""
    problems = []
    for error in exc.errors()[:5]:
        location = list(error["loc"])
        label = ".".join(str(part) for part in location)
        if document is not None and len(location) >= 3 and location[:2] == ["catalog", "services"]:
            try:
                service_id = document["catalog"]["services"][location[2]]["id"]
                rest = ".".join(str(p) for p in location[3:])
                label = f"service {service_id!r}" + (f" {rest}" if rest else "")
            except (KeyError, IndexError, TypeError):
                pass
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{label}: {message}" if label else message)
    more = len(exc.errors()) - len(problems)
    return "; ".join(problems) + (f" (+{more} more)" if more > 0 else "")


def parse_bundle(data: bytes, *, max_bytes: int = MAX_BUNDLE_BYTES) -> Bundle:
    """Validate bundle bytes completely, or raise `UpdateRejected` saying why."""
    if len(data) > max_bytes:
        raise UpdateRejected("oversized", f"bundle is {len(data)} bytes, limit {max_bytes}")
    if not data.strip():
        raise UpdateRejected("truncated", "bundle is empty")
    try:
        document = json.loads(data)
    except RecursionError:
        raise UpdateRejected("schema", "bundle JSON is nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise UpdateRejected(
            "schema", f"bundle is not valid JSON (not UTF-8: {exc.reason} at byte {exc.start})"
        ) from None
    except json.JSONDecodeError as exc:
        code: RejectCode = "truncated" if _ends_early(exc) else "schema"
        what = "ends early (truncated)" if code == "truncated" else "is not valid JSON"
        raise UpdateRejected(code, f"bundle {what}: {exc}") from None
    if not isinstance(document, dict):
        raise UpdateRejected("schema", f"bundle is not a JSON object but {type(document).__name__}")
    try:
        bundle = Bundle.model_validate(document)
    except RecursionError:
        raise UpdateRejected("schema", "bundle is nested too deeply") from None
    except ValidationError as exc:
        raise UpdateRejected("schema", f"bundle fails validation: {describe_validation(exc, document)}") from None
    check_parts(bundle.catalog, bundle.policy, bundle.models)
    return bundle


def _ends_early(exc: json.JSONDecodeError) -> bool:
    """JSON cut short (an error at its very end) rather than something else (YAML, junk)."""
    text = exc.doc.rstrip()
    if exc.msg.startswith("Unterminated string"):
        return text.startswith(("{", "[")) and exc.pos < len(text)
    return bool(text) and text[0] in "{[" and exc.pos >= len(text)


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas for editors and CI: a catalog source file, a policy file, a whole bundle."""
    from pydantic import create_model

    from agent.policy.catalog import Service

    catalog_file = create_model("CatalogFile", services=(list[Service], ...), __config__=ConfigDict(extra="forbid"))
    return {
        "catalog": catalog_file.model_json_schema(),
        "policy": OrgPolicy.model_json_schema(),
        "bundle": Bundle.model_json_schema(),
    }
