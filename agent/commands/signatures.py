"""`phiwall signatures`: the agent's side of signed signature updates (verify, install, status)
and two policy helpers (fingerprint, schema). IT publishes with `phiwall-publish`, a separate
program (publisher/); see docs/signatures.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from agent.commands.options import config_option, db_option, resolve
from agent.environment import environment
from agent.errors import SignatureError


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


@click.group()
def signatures() -> None:
    """Verify and install signature bundles (catalog, policy, models) on this agent.

    `phiwall run` polls [signatures] repository by itself; these commands check or install
    now, and show what is in force. IT builds and signs bundles with `phiwall-publish`.
    """


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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(db_url: str | None, config_file: Path | None, as_json: bool) -> None:
    """Show the signatures in force on this agent, update freshness and recent installs."""
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
    if db_url or environment().db or config.store.url:
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
