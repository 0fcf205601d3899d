"""Reading signature SOURCE files (YAML catalog, YAML policy, JSON models) into a `Bundle`.

Used for the shipped catalog (part of the installed package, trusted like the code: no
signature needed), for a catalog pinned in the config, and by `phiwall-publish build`.
Errors name the file and the service id, because IT edits these files by hand.

Layout of a source tree (the shipped one is `signatures/`):
    manifest.yaml        version, and where the parts are (defaults below)
    catalog/*.yaml       `services: [...]`, any number of files, read in name order
    policy/default.yaml  the organisation policy
    models/*.json        model parameters, one object per file, named by file stem
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent.policy.catalog import Catalog, Service
from agent.policy.org import OrgPolicy
from agent.updates.bundle import MAX_MODEL_BYTES, Bundle, check_version, describe_validation
from agent.updates.errors import UpdateRejected
from agent.updates.parts import check_parts

MAX_SOURCE_FILE_BYTES = 4 << 20
SHIPPED_ROOT = Path(__file__).resolve().parents[2] / "signatures"


@dataclass(frozen=True)
class SourcePaths:
    version: str
    catalog: tuple[Path, ...]
    policy: Path | None
    models: Path | None
    extra_catalog: tuple[Path, ...] = field(default=())


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_SOURCE_FILE_BYTES:
            raise UpdateRejected("oversized", f"{path}: {size} bytes, limit {MAX_SOURCE_FILE_BYTES}")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UpdateRejected("schema", f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UpdateRejected("schema", f"{path}: not UTF-8 text") from None


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(_read_text(path), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UpdateRejected("schema", f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def read_manifest(root: Path) -> SourcePaths:
    """The parts of a source tree, from `root/manifest.yaml` (or defaults when absent)."""
    manifest_file = root / "manifest.yaml"
    manifest: dict[str, Any] = {}
    if manifest_file.exists():
        loaded = _read_yaml(manifest_file)
        if not isinstance(loaded, dict):
            raise UpdateRejected("schema", f"{manifest_file}: expected a mapping")
        manifest = loaded
    version = str(manifest.get("version", "0"))
    try:
        check_version(version)
    except ValueError as exc:
        raise UpdateRejected("schema", f"{manifest_file}: {exc}") from None
    catalog = root / str(manifest.get("catalog", "catalog"))
    policy = root / str(manifest.get("policy", "policy/default.yaml"))
    models = root / str(manifest.get("models", "models"))
    return SourcePaths(
        version=version,
        catalog=(catalog,),
        policy=policy if policy.exists() else None,
        models=models if models.is_dir() else None,
    )


def _catalog_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise UpdateRejected("schema", f"catalog source {path} does not exist")
    return files


def read_services(paths: tuple[Path, ...]) -> list[Service]:
    """Every service in the catalog files, validated one by one so errors name the service."""
    services: list[Service] = []
    for path in _catalog_files(paths):
        document = _read_yaml(path)
        if document is None:
            continue
        if not isinstance(document, dict) or not isinstance(document.get("services", []), list):
            raise UpdateRejected("schema", f"{path}: expected a mapping with a `services` list")
        unknown = set(document) - {"services"}
        if unknown:
            raise UpdateRejected("schema", f"{path}: unknown top-level keys {sorted(unknown)}")
        for position, item in enumerate(document.get("services", [])):
            label = item.get("id", f"#{position + 1}") if isinstance(item, dict) else f"#{position + 1}"
            try:
                services.append(Service.model_validate(item))
            except ValidationError as exc:
                raise UpdateRejected("schema", f"{path}: service {label!r}: {_short(exc)}") from None
    return services


def _short(exc: ValidationError) -> str:
    return describe_validation(exc)


def read_policy(path: Path | None) -> OrgPolicy:
    if path is None:
        return OrgPolicy()
    document = _read_yaml(path)
    try:
        return OrgPolicy.model_validate(document or {})
    except ValidationError as exc:
        raise UpdateRejected("schema", f"{path}: {_short(exc)}") from None


def read_models(directory: Path | None) -> dict[str, dict[str, Any]]:
    """Model parameter files as JSON objects (size-limited; absent directory: none); checked by `check_parts`."""
    models: dict[str, dict[str, Any]] = {}
    if directory is None or not directory.is_dir():
        return models
    for path in sorted(directory.glob("*.json")):
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise UpdateRejected("oversized", f"{path}: {size} bytes, limit {MAX_MODEL_BYTES}")
        try:
            params = json.loads(_read_text(path))
        except json.JSONDecodeError as exc:
            raise UpdateRejected("schema", f"{path}: not valid JSON: {exc}") from None
        if not isinstance(params, dict):
            raise UpdateRejected("schema", f"{path}: model parameters must be a JSON object")
        models[path.stem] = params
    return models


def build_bundle(paths: SourcePaths, *, version: str | None = None, created: datetime | None = None) -> Bundle:
    """Assemble and fully validate a bundle from source files."""
    version = version or paths.version
    services = read_services(paths.catalog + paths.extra_catalog)
    try:
        catalog = Catalog(version=version, services=tuple(services))
    except ValidationError as exc:
        raise UpdateRejected("schema", f"catalog: {_short(exc)}") from None
    policy = read_policy(paths.policy)
    problems = policy.validate_against(catalog)
    if problems:
        raise UpdateRejected("schema", f"{paths.policy}: " + "; ".join(problems))
    try:
        bundle = Bundle(
            version=version,
            created=created or datetime.now(UTC),
            catalog=catalog,
            policy=policy,
            models=read_models(paths.models),
        )
    except ValidationError as exc:
        raise UpdateRejected("schema", _short(exc)) from None
    check_parts(bundle.catalog, bundle.policy, bundle.models)
    return bundle


def load_source(path: Path) -> Bundle:
    """A catalog named in the config: a source tree, one catalog YAML, or a bundle JSON file."""
    from agent.updates.bundle import parse_bundle

    if path.is_dir():
        return build_bundle(read_manifest(path))
    if path.suffix == ".json":
        return parse_bundle(path.read_bytes())
    shipped = read_manifest(SHIPPED_ROOT)
    return build_bundle(
        SourcePaths(version=shipped.version, catalog=(path,), policy=shipped.policy, models=shipped.models)
    )


@lru_cache(maxsize=1)
def shipped_bundle() -> Bundle:
    """The catalog shipped with the code (trusted like the code); loaded once per process."""
    return build_bundle(read_manifest(SHIPPED_ROOT), created=datetime(2000, 1, 1, tzinfo=UTC))
