"""`phiwall signatures`: the IT side (keygen, init, build, sign, refresh, rotate-root) and the
agent side (verify, install, status) of signed signature updates. See docs/signatures.md."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import click

from agent.commands.options import config_option, db_option, resolve
from agent.errors import SignatureError


def _passphrase(env_name: str | None) -> bytes | None:
    from signatures.keys import PASSPHRASE_ENV

    value = os.environ.get(env_name or PASSPHRASE_ENV)
    return value.encode() if value else None


def _duration(text: str) -> timedelta:
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) <= 0:
        raise click.BadParameter(f"{text!r}: expected a positive duration like 1d, 12h, 90m")
    return timedelta(**{units[unit]: int(number)})


def _lifetimes(values: tuple[str, ...]) -> Any:
    from signatures.repository import Lifetimes

    changes: dict[str, timedelta] = {}
    for item in values:
        role, sep, duration = item.partition("=")
        if not sep or role not in ("root", "targets", "snapshot", "timestamp"):
            raise click.BadParameter(f"{item!r}: expected ROLE=DURATION, e.g. timestamp=1d")
        changes[role] = _duration(duration)
    return Lifetimes(**changes)


def _thresholds(root: int, targets: int, snapshot: int, timestamp: int) -> Any:
    from signatures.repository import Thresholds

    return Thresholds(root=root, targets=targets, snapshot=snapshot, timestamp=timestamp)


def _ring(key_dirs: tuple[Path, ...], passphrase_env: str | None) -> Any:
    from signatures.keys import KeyRing

    return KeyRing.load(key_dirs, passphrase=_passphrase(passphrase_env))


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


repo_option = click.option(
    "--repo",
    "repo_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Repository directory (serve it over HTTPS or copy it to a share).",
)
keys_option = click.option(
    "--keys",
    "key_dirs",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    multiple=True,
    required=True,
    help="Key directory (repeatable: e.g. one per root key holder).",
)
passphrase_option = click.option(
    "--passphrase-env", metavar="VAR", default=None, help="Environment variable holding the key passphrase."
)


def thresholds_options[F: Callable[..., Any]](command: F) -> F:
    """The four signature thresholds (`init` and `rotate-root` take the same ones)."""
    for role, default in (("timestamp", 1), ("snapshot", 1), ("targets", 1), ("root", 2)):
        command = click.option(f"--{role}-threshold", type=click.IntRange(1, 16), default=default, show_default=True)(
            command
        )
    return command


expires_option = click.option(
    "--expires",
    "expires",
    multiple=True,
    metavar="ROLE=DURATION",
    help="Signature lifetime per role (defaults root=365d targets=90d snapshot=30d timestamp=1d).",
)


@click.group()
def signatures() -> None:
    """Build, sign, verify and install signature bundles (catalog, policy, models).

    IT: keygen -> init -> build -> sign, then `refresh` daily (timestamp). Agents: verify,
    install and status; `phiwall run` polls [signatures] repository by itself.
    """


@signatures.command()
@click.option("--keys", "key_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--role", type=click.Choice(["root", "targets", "snapshot", "timestamp"]), required=True)
@click.option("--count", type=click.IntRange(1, 16), default=1, show_default=True, help="How many keys.")
@click.option("--name", default=None, help="Key name prefix (default: the role).")
@passphrase_option
def keygen(key_dir: Path, role: str, count: int, name: str | None, passphrase_env: str | None) -> None:
    """Generate Ed25519 signing keys (private files mode 0600) under DIR/ROLE/."""
    from signatures.keys import Role, generate_key

    prefix = name or role
    existing = len(list((key_dir / role).glob("*.pem"))) if (key_dir / role).is_dir() else 0
    for index in range(existing + 1, existing + count + 1):
        key = generate_key(key_dir, cast("Role", role), f"{prefix}-{index}", passphrase=_passphrase(passphrase_env))
        click.echo(f"{role} key {key.keyid[:16]}  {key_dir / role / f'{prefix}-{index}.pem'}")


@signatures.command()
@repo_option
@keys_option
@thresholds_options
@expires_option
@passphrase_option
def init(
    repo_dir: Path,
    key_dirs: tuple[Path, ...],
    root_threshold: int,
    targets_threshold: int,
    snapshot_threshold: int,
    timestamp_threshold: int,
    expires: tuple[str, ...],
    passphrase_env: str | None,
) -> None:
    """Create a repository: root v1 with every public key found, signed by the root keys."""
    from signatures.repository import Repository

    repo = Repository(repo_dir, _lifetimes(expires))
    ring = _ring(key_dirs, passphrase_env)
    repo.init(ring, _thresholds(root_threshold, targets_threshold, snapshot_threshold, timestamp_threshold))
    click.echo(f"repository created in {repo_dir}")
    click.echo(f"trusted root for agents: {repo.metadata_dir / '1.root.json'}  ([signatures] trusted_root)")


@signatures.command()
@click.option(
    "--source",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Source tree with manifest.yaml (default: the shipped signatures/).",
)
@click.option(
    "--catalog",
    "catalogs",
    type=click.Path(exists=True, path_type=Path),
    multiple=True,
    help="Extra catalog YAML file or directory (repeatable), added to the source's catalog.",
)
@click.option("--policy", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--models", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None)
@click.option("--version", "version", default=None, help="Bundle version (dotted numbers; default: UTC time).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def build(
    source: Path | None,
    catalogs: tuple[Path, ...],
    policy: Path | None,
    models: Path | None,
    version: str | None,
    out: Path,
) -> None:
    """Validate catalog + policy + models and write one bundle file (unsigned: then `sign`)."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from agent.updates.bundle import bundle_bytes, check_version
    from agent.updates.source import SHIPPED_ROOT, build_bundle, read_manifest

    paths = read_manifest(source or SHIPPED_ROOT)
    paths = replace(
        paths,
        extra_catalog=catalogs,
        policy=policy or paths.policy,
        models=models or paths.models,
    )
    if version is None:
        version = datetime.now(UTC).strftime("%Y.%m.%d.%H%M%S")
    try:
        check_version(version)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--version") from None
    bundle = build_bundle(paths, version=version)
    data = bundle_bytes(bundle)
    out.write_bytes(data)
    click.echo(
        f"bundle {bundle.version}: {len(bundle.catalog.services)} services, "
        f"{len(bundle.policy.approved)} approved, models {sorted(bundle.models) or 'none'}, {len(data)} bytes -> {out}"
    )


@signatures.command()
@repo_option
@keys_option
@expires_option
@passphrase_option
@click.argument("bundle_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def sign(
    repo_dir: Path, key_dirs: tuple[Path, ...], expires: tuple[str, ...], passphrase_env: str | None, bundle_file: Path
) -> None:
    """Publish BUNDLE_FILE: add it as the signed target and re-sign targets, snapshot, timestamp."""
    from signatures.repository import Repository

    repo = Repository(repo_dir, _lifetimes(expires))
    version = repo.publish(bundle_file.read_bytes(), _ring(key_dirs, passphrase_env))
    click.echo(f"published bundle {version} in {repo_dir}")


@signatures.command()
@repo_option
@keys_option
@click.option(
    "--role",
    type=click.Choice(["timestamp", "snapshot", "targets"]),
    default="timestamp",
    show_default=True,
    help="timestamp: daily; snapshot/targets: before their expiry (also re-sign what depends on them).",
)
@expires_option
@passphrase_option
def refresh(
    repo_dir: Path, key_dirs: tuple[Path, ...], role: str, expires: tuple[str, ...], passphrase_env: str | None
) -> None:
    """Re-sign metadata before it expires (run the timestamp refresh daily from a timer)."""
    from signatures.repository import Repository

    repo = Repository(repo_dir, _lifetimes(expires))
    repo.refresh(_ring(key_dirs, passphrase_env), roles=(role,))
    stamp = repo.describe()["timestamp"]
    click.echo(f"{role} re-signed; timestamp v{stamp['version']} valid until {stamp['expires']}")


@signatures.command("rotate-root")
@repo_option
@keys_option
@click.option(
    "--new-keys",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    multiple=True,
    required=True,
    help="Directory with the NEW public keys (roles found there replace the current keys).",
)
@thresholds_options
@expires_option
@passphrase_option
def rotate_root(
    repo_dir: Path,
    key_dirs: tuple[Path, ...],
    new_keys: tuple[Path, ...],
    root_threshold: int,
    targets_threshold: int,
    snapshot_threshold: int,
    timestamp_threshold: int,
    expires: tuple[str, ...],
    passphrase_env: str | None,
) -> None:
    """Write the next root version (key rotation or revocation), signed by old and new root keys."""
    from signatures.repository import Repository

    repo = Repository(repo_dir, _lifetimes(expires))
    ring = _ring(key_dirs + new_keys, passphrase_env)
    incoming = _ring(new_keys, passphrase_env)
    new_public = {role: keys for role, keys in incoming.public.items() if keys}
    root = repo.rotate_root(
        ring, new_public, _thresholds(root_threshold, targets_threshold, snapshot_threshold, timestamp_threshold)
    )
    click.echo(f"root v{root.signed.version} written; agents move to it on their next update")


def _agent_side(config_file: Path | None, db_url: str | None, repository: str | None) -> tuple[Any, str, str, bytes]:
    from agent.errors import ConfigError
    from agent.updates.install import trusted_root_bytes

    config, url = resolve(config_file, db_url)
    repository = repository or config.signatures.repository
    if not repository:
        raise ConfigError("no repository: pass --repo or set [signatures] repository in the config")
    return config, url, repository, trusted_root_bytes(config)


@signatures.command()
@config_option
@click.option("--repo", "repository", default=None, help="Repository dir or URL (default: [signatures] repository).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("bundle_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify(config_file: Path | None, repository: str | None, as_json: bool, bundle_file: Path | None) -> None:
    """Check without installing: a BUNDLE_FILE's contents, or the repository's signed bundle.

    Repository verification uses the agent's trusted state (rollback protection) on a copy,
    so nothing changes on this machine. Exit 0 when valid, 5 when rejected.
    """
    from agent.updates.bundle import parse_bundle
    from agent.updates.errors import UpdateRejected
    from agent.updates.install import check_for_update
    from agent.updates.installed import Layout

    if bundle_file is not None:
        try:
            bundle = parse_bundle(bundle_file.read_bytes())
        except UpdateRejected as exc:
            _report({"valid": False, "code": exc.code, "reason": str(exc)}, as_json)
            raise click.exceptions.Exit(exc.exit_code) from None
        _report({"valid": True, "version": bundle.version, "services": len(bundle.catalog.services)}, as_json)
        return
    from agent.updates.fetch import limits_from_config

    config, _, repo, root = _agent_side(config_file, None, repository)
    outcome, _ = check_for_update(
        Layout.for_data_dir(config.data_dir), repo, root, apply=False, limits=limits_from_config(config.signatures)
    )
    result: dict[str, Any] = {"valid": outcome.status != "rejected", "version": outcome.version, "repository": repo}
    if outcome.status == "rejected":
        result.update(code=outcome.code, reason=outcome.reason)
    else:
        result["signed_until"] = outcome.expires_at
    _report(result, as_json)
    if outcome.status == "rejected":
        raise click.exceptions.Exit(SignatureError.exit_code)


def _report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _echo_json(result)
        return
    if result.get("valid"):
        click.echo(
            f"valid: bundle {result.get('version')}"
            + (f" from {result['repository']}" if "repository" in result else "")
        )
    else:
        click.echo(f"rejected: {result.get('reason')}", err=True)


@signatures.command()
@db_option
@config_option
@click.option("--repo", "repository", default=None, help="Repository dir or URL (default: [signatures] repository).")
def install(db_url: str | None, config_file: Path | None, repository: str | None) -> None:
    """Fetch, verify and install the repository's bundle now; record it in the store.

    A running agent picks it up within seconds. Exit 0 when installed or already current,
    5 when rejected (the bundle in force stays).
    """
    from agent.identity import agent_id
    from agent.paths import ensure_writable_dir
    from agent.store import open_store
    from agent.updates.fetch import limits_from_config
    from agent.updates.install import StoreRecorder, check_for_update
    from agent.updates.installed import Layout

    config, url, repo, root = _agent_side(config_file, db_url, repository)
    ensure_writable_dir(config.data_dir)
    outcome, _ = check_for_update(
        Layout.for_data_dir(config.data_dir), repo, root, limits=limits_from_config(config.signatures)
    )
    store = open_store(url)
    try:
        StoreRecorder(store, agent_id(config)).record(outcome)
    finally:
        store.dispose()
    if outcome.status == "rejected":
        from agent.updates.errors import remedy

        click.echo(outcome.summary, err=True)
        click.echo(f"fix: {remedy(outcome.code)}", err=True)
        raise click.exceptions.Exit(SignatureError.exit_code)
    click.echo(outcome.summary)


@signatures.command()
@db_option
@config_option
@click.option(
    "--repo",
    "repo_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Describe a repository directory instead (IT side).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(db_url: str | None, config_file: Path | None, repo_dir: Path | None, as_json: bool) -> None:
    """Show the signatures in force on this agent, update freshness and recent installs."""
    if repo_dir is not None:
        from signatures.repository import Repository

        described = Repository(repo_dir).describe()
        if as_json:
            _echo_json(described)
        else:
            for role in ("root", "targets", "snapshot", "timestamp"):
                item = described[role]
                click.echo(f"{role:<9} v{item['version']:<4} expires {item['expires']}")
            click.echo(f"bundle    {described['bundle']}")
        return
    report = agent_status(db_url, config_file)
    if as_json:
        _echo_json(report)
        return
    click.echo(f"{'in force:':<14}{report['label']} ({report['services']} services)")
    if report.get("sha256"):
        click.echo(f"{'sha256:':<14}{report['sha256']}")
    click.echo(f"{'repository:':<14}{report['repository'] or '(none configured)'}")
    for key in ("signed_until", "last_check", "last_success", "fresh_until", "last_error", "fix"):
        if report.get(key):
            click.echo(f"{key.replace('_', ' ') + ':':<14}{report[key]}")
    for row in report["history"]:
        click.echo(f"  {row['installed_at']}  {row['status']:<10} {row['version']:<22} {row['reason']}")


def agent_status(db_url: str | None, config_file: Path | None) -> dict[str, Any]:
    from sqlmodel import col, select

    from agent.errors import StoreError
    from agent.store import SignatureInstall, open_store, require_existing_store
    from agent.updates.active import load_active
    from agent.updates.errors import remedy
    from agent.updates.install import read_state
    from agent.updates.installed import Layout

    config, url = resolve(config_file, db_url)
    if db_url or os.environ.get("PHIWALL_DB") or config.store.url:
        # A store named explicitly must exist (a mistyped --db is an error, not "no history");
        # the embedded default may not exist yet on a machine where the agent never ran.
        require_existing_store(url)
    active = load_active(config.data_dir, config)
    current = active.current()
    state = read_state(Layout.for_data_dir(config.data_dir))
    history: list[dict[str, Any]] = []
    try:
        store = open_store(url, migrate=False)
        try:
            with store.session() as session:
                rows = session.exec(
                    select(SignatureInstall).order_by(col(SignatureInstall.installed_at).desc()).limit(10)
                ).all()
                history = [
                    {
                        "installed_at": r.installed_at.isoformat(timespec="seconds"),
                        "status": r.status,
                        "version": r.version,
                        "reason": r.reason,
                    }
                    for r in rows
                ]
        finally:
            store.dispose()
    except StoreError:
        pass
    return {
        "version": current.version,
        "label": current.label,
        "source": current.source,
        "sha256": current.sha256,
        "services": len(current.catalog.services),
        "signed_until": current.expires_at,
        "repository": config.signatures.repository,
        "last_check": state.last_check,
        "last_success": state.last_success,
        "fresh_until": state.fresh_until,
        "last_error": state.last_error or active.last_error,
        "fix": remedy(state.last_code or active.last_code) if (state.last_error or active.last_error) else None,
        "history": history,
    }


@signatures.command()
def fingerprint() -> None:
    """Read an API key from stdin; print the tenant id to approve it by (the key is not kept)."""
    from agent.policy.org import credential_fingerprint

    secret = sys.stdin.readline().strip()
    if not secret:
        raise click.UsageError("paste the API key on stdin (e.g. `phiwall signatures fingerprint < key.txt`)")
    click.echo(credential_fingerprint(secret.removeprefix("Bearer ").strip()))


@signatures.command()
@click.option(
    "--kind",
    type=click.Choice(["catalog", "policy", "bundle"]),
    default="catalog",
    show_default=True,
    help="catalog: one catalog/*.yaml file; policy: a policy file; bundle: a built bundle.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write to a file.")
def schema(kind: str, out: Path | None) -> None:
    """Print a JSON Schema (for editors and CI) of catalog files, policy files or bundles."""
    from agent.updates.bundle import json_schemas

    text = json.dumps(json_schemas()[kind], indent=2, sort_keys=True) + "\n"
    if out:
        out.write_text(text)
        click.echo(f"{kind} schema written to {out}")
    else:
        click.echo(text, nl=False)
