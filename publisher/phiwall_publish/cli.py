"""`phiwall-publish`: IT's side of signed signature updates, apart from the endpoint agent.

The offline TUF repository tooling (keygen, init, build, sign, refresh, rotate-root, status)
and the shadow-AI classifier trainer (`train-shadow`). Workstations run `phiwall` only and do
not install this package (`pip install ./publisher`, which pulls `phiwall[publish]`); the
agent's side (`phiwall signatures verify|install|status`) stays in `agent/commands/`.
See docs/signatures.md.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import click

from agent import __version__
from agent.cli import run_cli


def _passphrase(env_name: str | None) -> bytes | None:
    from phiwall_publish.keys import PASSPHRASE_ENV

    value = os.environ.get(env_name or PASSPHRASE_ENV)
    return value.encode() if value else None


def _duration(text: str) -> timedelta:
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) <= 0:
        raise click.BadParameter(f"{text!r}: expected a positive duration like 1d, 12h, 90m")
    return timedelta(**{units[unit]: int(number)})


def _lifetimes(values: tuple[str, ...]) -> Any:
    from phiwall_publish.repository import Lifetimes

    changes: dict[str, timedelta] = {}
    for item in values:
        role, sep, duration = item.partition("=")
        if not sep or role not in ("root", "targets", "snapshot", "timestamp"):
            raise click.BadParameter(f"{item!r}: expected ROLE=DURATION, e.g. timestamp=1d")
        changes[role] = _duration(duration)
    return Lifetimes(**changes)


def _thresholds(root: int, targets: int, snapshot: int, timestamp: int) -> Any:
    from phiwall_publish.repository import Thresholds

    return Thresholds(root=root, targets=targets, snapshot=snapshot, timestamp=timestamp)


def _ring(key_dirs: tuple[Path, ...], passphrase_env: str | None) -> Any:
    from phiwall_publish.keys import KeyRing

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="phiwall-publish")
def publish() -> None:
    """Publish signed signature bundles (catalog, policy, models) for PhiWall agents.

    IT, once: keygen -> init. Each release: build -> sign, then `refresh` daily (timestamp).
    Agents check and install with `phiwall signatures verify|install|status`.
    """


@publish.command()
@click.option("--keys", "key_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--role", type=click.Choice(["root", "targets", "snapshot", "timestamp"]), required=True)
@click.option("--count", type=click.IntRange(1, 16), default=1, show_default=True, help="How many keys.")
@click.option("--name", default=None, help="Key name prefix (default: the role).")
@passphrase_option
def keygen(key_dir: Path, role: str, count: int, name: str | None, passphrase_env: str | None) -> None:
    """Generate Ed25519 signing keys (private files mode 0600) under DIR/ROLE/."""
    from phiwall_publish.keys import Role, generate_key

    prefix = name or role
    existing = len(list((key_dir / role).glob("*.pem"))) if (key_dir / role).is_dir() else 0
    for index in range(existing + 1, existing + count + 1):
        key = generate_key(key_dir, cast("Role", role), f"{prefix}-{index}", passphrase=_passphrase(passphrase_env))
        click.echo(f"{role} key {key.keyid[:16]}  {key_dir / role / f'{prefix}-{index}.pem'}")


@publish.command()
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
    from phiwall_publish.repository import Repository

    repo = Repository(repo_dir, _lifetimes(expires))
    ring = _ring(key_dirs, passphrase_env)
    repo.init(ring, _thresholds(root_threshold, targets_threshold, snapshot_threshold, timestamp_threshold))
    click.echo(f"repository created in {repo_dir}")
    click.echo(f"trusted root for agents: {repo.metadata_dir / '1.root.json'}  ([signatures] trusted_root)")


@publish.command()
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


@publish.command()
@repo_option
@keys_option
@expires_option
@passphrase_option
@click.argument("bundle_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def sign(
    repo_dir: Path, key_dirs: tuple[Path, ...], expires: tuple[str, ...], passphrase_env: str | None, bundle_file: Path
) -> None:
    """Publish BUNDLE_FILE: add it as the signed target and re-sign targets, snapshot, timestamp."""
    from phiwall_publish.repository import Repository

    repo = Repository(repo_dir, _lifetimes(expires))
    version = repo.publish(bundle_file.read_bytes(), _ring(key_dirs, passphrase_env))
    click.echo(f"published bundle {version} in {repo_dir}")


@publish.command()
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
    from phiwall_publish.repository import Repository

    repo = Repository(repo_dir, _lifetimes(expires))
    repo.refresh(_ring(key_dirs, passphrase_env), roles=(role,))
    stamp = repo.describe()["timestamp"]
    click.echo(f"{role} re-signed; timestamp v{stamp['version']} valid until {stamp['expires']}")


@publish.command("rotate-root")
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
    from phiwall_publish.repository import Repository

    repo = Repository(repo_dir, _lifetimes(expires))
    ring = _ring(key_dirs + new_keys, passphrase_env)
    incoming = _ring(new_keys, passphrase_env)
    new_public = {role: keys for role, keys in incoming.public.items() if keys}
    root = repo.rotate_root(
        ring, new_public, _thresholds(root_threshold, targets_threshold, snapshot_threshold, timestamp_threshold)
    )
    click.echo(f"root v{root.signed.version} written; agents move to it on their next update")


@publish.command()
@click.option(
    "--repo",
    "repo_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Repository directory.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(repo_dir: Path, as_json: bool) -> None:
    """Show each role's version and expiry, and the bundle in force, of a repository."""
    from phiwall_publish.repository import Repository

    described = Repository(repo_dir).describe()
    if as_json:
        _echo_json(described)
        return
    for role in ("root", "targets", "snapshot", "timestamp"):
        item = described[role]
        click.echo(f"{role:<9} v{item['version']:<4} expires {item['expires']}")
    click.echo(f"bundle    {described['bundle']}")


@publish.command("train-shadow")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Where to write the model JSON."
)
@click.option("--check", is_flag=True, help="Evaluate only; exit 1 when below the target.")
@click.option("--no-cv", is_flag=True, help="Skip the 5-fold cross-validation (faster).")
@click.option("--dev", is_flag=True, help="Development loop: CV on the training services only (no held-out figures).")
@click.option(
    "--seeds", type=click.IntRange(1, 20), default=2, show_default=True, help="--dev: shuffled CV repetitions."
)
def train_shadow(out: Path | None, check: bool, no_cv: bool, dev: bool, seeds: int) -> None:
    """Train and evaluate the shadow-AI request-shape classifier; write the shipped model JSON."""
    from phiwall_publish.shadow import train

    code = train.run(out or train.MODEL_PATH, check=check, no_cv=no_cv, dev=dev, seeds=seeds)
    if code:
        raise click.exceptions.Exit(code)


@publish.command("project-root")
@click.option(
    "--keys",
    "keys",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where to create the keys (outside the checkout).",
)
@click.option(
    "--repo", "repo_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="Where to create it."
)
def project_root(keys: Path, repo_dir: Path) -> None:
    """PhiWall maintainers only: make the shipped trusted root (signatures/trusted/root.json)."""
    from phiwall_publish.project_root import make_project_root

    trusted = make_project_root(keys, repo_dir)
    click.echo(f"keys in {keys} (move the root keys to offline media), repository in {repo_dir}")
    click.echo(f"trusted root written to {trusted}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(publish, argv, "phiwall-publish")


if __name__ == "__main__":
    sys.exit(main())
