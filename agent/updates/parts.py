"""Semantic checks of each bundle part, after the schema: catalog, policy, models.

The schema (pydantic, in `bundle.py`) says every field has the right type and form. These
checks say the parts make sense and will work once in force: a catalog that routes each
service's own example URLs to that service, a policy that does not wave a blocked service
through, and models that load and predict (`agent/shadow/model_check.py`). They run in the
publisher tools (`build`, `sign`, `verify`) and in the agent before every install and every
reload, so a validly signed but broken part is refused with its name and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from agent.policy.catalog import Catalog
from agent.policy.org import OrgPolicy
from agent.shadow.classifier import ShadowModelError
from agent.shadow.model_check import check_shadow_model
from agent.updates.errors import UpdateRejected

# Model names this agent knows how to check and use (file stems under models/).
SHADOW_MODEL_NAMES = ("shadow_classifier", "shadow-classifier")


def catalog_problems(catalog: Catalog) -> list[str]:
    """An empty catalog blocks nothing; overlapping host patterns misroute a service."""
    if not catalog.services:
        return ["the catalog has no services (it would block nothing)"]
    problems: list[str] = []
    for service in catalog.services:
        for url in service.examples:
            host = urlsplit(url).hostname or ""
            owner = catalog.service_for_host(host)
            if owner is not None and owner.id != service.id:
                problems.append(f"service {service.id!r}: its example {url} is routed to {owner.id!r}")
    return problems


def policy_problems(policy: OrgPolicy, catalog: Catalog) -> list[str]:
    """The schema-level cross-checks, plus: no passthrough host that hides a blocked service."""
    problems = policy.validate_against(catalog)
    for service_id in policy.blocked:
        service = catalog.service(service_id)
        for url in service.examples if service else ():
            host = urlsplit(url).hostname or ""
            if policy.is_passthrough(host):
                problems.append(f"blocked service {service_id!r} is passed through uninspected ({host})")
    return problems


def model_problem(name: str, params: Any) -> str | None:
    if name not in SHADOW_MODEL_NAMES:
        return f"unknown model (this agent uses {SHADOW_MODEL_NAMES[0]!r} only)"
    try:
        check_shadow_model(params)
    except ShadowModelError as exc:
        return str(exc).removeprefix("shadow classifier parameters: ").removeprefix("shadow classifier: ")
    return None


def check_parts(catalog: Catalog, policy: OrgPolicy, models: Mapping[str, Any]) -> None:
    """Raise `UpdateRejected` naming the first broken part: `schema` for catalog/policy, `model`."""
    problems = catalog_problems(catalog)
    if problems:
        raise UpdateRejected("schema", "catalog: " + _join(problems))
    problems = policy_problems(policy, catalog)
    if problems:
        raise UpdateRejected("schema", "policy: " + _join(problems))
    for name, params in models.items():
        problem = model_problem(name, params)
        if problem:
            raise UpdateRejected("model", f"model {name!r}: {problem}")


def _join(problems: list[str]) -> str:
    more = len(problems) - 3
    return "; ".join(problems[:3]) + (f" (+{more} more)" if more > 0 else "")
