"""Doctor checks for signatures: the catalog in force loads, and updates can be trusted.

`check_catalog` fails only when no catalog can be enforced (a pinned catalog that does not
load); a broken installed bundle is a warning because the agent falls back to the shipped
catalog. `check_signature_updates` looks at the trusted root and at the freshness of what is
installed: expired metadata is reported, never silently accepted.
"""

from __future__ import annotations

from tuf.api.metadata import Metadata, Root

from agent.checkup import DoctorContext, Finding, Level
from agent.store import utcnow
from agent.updates.active import load_active
from agent.updates.component import rejection_summary
from agent.updates.errors import UpdateRejected, remedy
from agent.updates.install import SHIPPED_TRUSTED_ROOT, read_state, trusted_root_bytes
from agent.updates.installed import Layout, read_pointer


def installed_remedy(code: str | None) -> str:
    """For a bundle on disk that no longer loads: re-fetching helps only when the copy is damaged."""
    if code in ("tampered", "missing", "truncated"):
        return "run `phiwall signatures install` to fetch the signed bundle again (the copy on disk is damaged)"
    return remedy(code)


def check_catalog(ctx: DoctorContext) -> Finding:
    try:
        active = load_active(ctx.config.data_dir, ctx.config)
    except UpdateRejected as exc:
        return Finding("catalog", "fail", f"pinned catalog does not load: {exc}", "fix [signatures] catalog")
    current = active.current()
    detail = f"{current.label}: {len(current.catalog.services)} services"
    if active.last_error:
        return Finding(
            "catalog",
            "warn",
            f"installed bundle unusable ({active.last_error}); enforcing {detail}",
            installed_remedy(active.last_code),
        )
    return Finding("catalog", "ok", detail)


def check_signature_updates(ctx: DoctorContext) -> Finding:
    name = "signature updates"
    config = ctx.config
    repository = config.signatures.repository
    root_path = config.signatures.trusted_root or SHIPPED_TRUSTED_ROOT
    # A trusted root that is missing or broken fails only when updates depend on it.
    level: Level = "fail" if repository else "warn"
    try:
        root = Metadata[Root].from_bytes(trusted_root_bytes(config)).signed
    except UpdateRejected as exc:
        return Finding(name, level, str(exc), "set [signatures] trusted_root to your repository's root.json")
    except Exception as exc:
        return Finding(name, level, f"trusted root {root_path} is not TUF root metadata: {exc}", "replace it")
    if not repository:
        return Finding(name, "ok", f"no repository configured; trusted root {root_path.name} v{root.version} present")
    now = utcnow()
    layout = Layout.for_data_dir(config.data_dir)
    try:
        pointer = read_pointer(layout)
    except UpdateRejected as exc:  # the pointer file itself is damaged: a fresh install rewrites it
        return Finding(name, "warn", str(exc), "run `phiwall signatures install` to rewrite it")
    state = read_state(layout)
    if root.is_expired(now) and root.version == 1 and pointer is None:
        return Finding(
            name, "fail", f"trusted root {root_path} expired {root.expires:%Y-%m-%d}", "install a newer root"
        )
    if state.last_code:
        return Finding(name, "warn", rejection_summary(state.last_code, state.last_error), remedy(state.last_code))
    if pointer is None:
        return Finding(name, "warn", f"no bundle installed yet from {repository}", "run `phiwall signatures install`")
    signed_until = state.signed_until or pointer.expires_at
    if signed_until is not None and signed_until < now:
        return Finding(
            name,
            "warn",
            f"bundle {pointer.version} signature expired {signed_until:%Y-%m-%d %H:%M} UTC",
            "publish a fresh bundle or re-sign targets (`phiwall-publish refresh --role targets`)",
        )
    if state.fresh_until is not None and state.fresh_until < now:
        return Finding(
            name,
            "warn",
            f"repository not confirmed current since {state.fresh_until:%Y-%m-%d %H:%M} UTC",
            "check the repository is reachable and its timestamp is re-signed daily",
        )
    expiry = f", signed until {signed_until:%Y-%m-%d}" if signed_until else ""
    return Finding(name, "ok", f"bundle {pointer.version} from {repository}{expiry}")
