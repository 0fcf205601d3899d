"""The local policy overlay: services an analyst approved or blocked on this agent.

The organisation's policy comes with the signed signatures (`OrgPolicy`); the security team
also needs to act now, from the console's Services screen, without building and signing a
bundle. Those decisions live in one small YAML file in the agent's data dir,
`<data_dir>/policy/local.yaml`:

    approved: [otter]          # approved for any account on this agent
    blocked: [deepseek-chat]   # unapproved whatever the catalog or the bundle says

The local decision wins over the bundle's for the services it names (a service blocked here
leaves the bundle's `approved` list, and the other way round). The agent re-reads the file
when it changes (`ActiveSignatures.reload_if_changed`, one `stat` per check), so a decision
takes effect on the next request, without a restart. Every change is also appended to
`<data_dir>/policy/local-audit.jsonl` (who, when, what, why), both files private (0600).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from agent.policy.catalog import Identifier
from agent.policy.org import ApprovedService, OrgPolicy

Decision = Literal["approved", "blocked"]
OVERLAY_NAME = "local.yaml"
AUDIT_NAME = "local-audit.jsonl"
MAX_OVERLAY_BYTES = 1 << 20
LOCAL_NOTE = "approved in the local overlay"


class OverlayError(ValueError):
    """The overlay file cannot be read or written (the message names the file and why)."""


class LocalOverlay(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    approved: tuple[Identifier, ...] = ()
    blocked: tuple[Identifier, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.approved and not self.blocked

    def decide(self, service_id: str, decision: Decision) -> LocalOverlay:
        """This overlay with `service_id` approved or blocked (and no longer the other)."""
        approved = tuple(s for s in self.approved if s != service_id)
        blocked = tuple(s for s in self.blocked if s != service_id)
        if decision == "approved":
            approved += (service_id,)
        else:
            blocked += (service_id,)
        return LocalOverlay(approved=approved, blocked=blocked)

    def apply(self, policy: OrgPolicy) -> OrgPolicy:
        """`policy` with these local decisions on top (they win for the services they name)."""
        if self.is_empty:
            return policy
        local = set(self.approved) | set(self.blocked)
        approved = [a.model_dump() for a in policy.approved if a.service not in local]
        approved += [ApprovedService(service=s, note=LOCAL_NOTE).model_dump() for s in self.approved]
        blocked = [b for b in policy.blocked if b not in local] + list(self.blocked)
        return OrgPolicy.model_validate({**policy.model_dump(), "approved": approved, "blocked": blocked})


def overlay_path(data_dir: Path) -> Path:
    return data_dir / "policy" / OVERLAY_NAME


def read_overlay(path: Path) -> LocalOverlay:
    """The overlay at `path`; an absent file is an empty overlay."""
    try:
        if path.stat().st_size > MAX_OVERLAY_BYTES:
            raise OverlayError(f"{path}: larger than {MAX_OVERLAY_BYTES} bytes")
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return LocalOverlay()
    except OSError as exc:
        raise OverlayError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise OverlayError(f"{path}: not valid YAML: {exc}") from None
    try:
        return LocalOverlay.model_validate(document or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise OverlayError(f"{path}: {where}: {first['msg']}") from None


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def set_service(
    data_dir: Path,
    service_id: str,
    decision: Decision,
    *,
    analyst: str,
    reason: str = "",
    now: datetime | None = None,
) -> LocalOverlay:
    """Approve or block `service_id` locally: rewrite the overlay, append the audit line."""
    path = overlay_path(data_dir)
    current = read_overlay(path)
    updated = current.decide(service_id, decision)
    OrgPolicy.model_validate({"approved": [{"service": s} for s in updated.approved], "blocked": updated.blocked})
    header = "# PhiWall local policy overlay, written by the console (docs/console.md). Edits are kept.\n"
    body = yaml.safe_dump({"approved": list(updated.approved), "blocked": list(updated.blocked)}, sort_keys=False)
    try:
        _write_private(path, header + body)
        audit = path.with_name(AUDIT_NAME)
        entry = {
            "time": (now or datetime.now(UTC)).isoformat(),
            "analyst": analyst,
            "service": service_id,
            "decision": decision,
            "reason": reason,
        }
        fd = os.open(audit, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
    except OSError as exc:
        raise OverlayError(f"cannot write {path}: {exc.strerror or exc}") from None
    return updated


def read_audit(data_dir: Path) -> list[dict[str, object]]:
    """Every local policy decision, oldest first."""
    audit = overlay_path(data_dir).with_name(AUDIT_NAME)
    try:
        lines = audit.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]
