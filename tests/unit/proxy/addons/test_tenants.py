"""Tenant-headers addon: the catalog's restriction headers replace the client's."""

from __future__ import annotations

from mitmproxy.test import taddons

from agent.proxy.addons.routing import Routing
from agent.proxy.addons.tenants import TenantHeaders
from agent.proxy.decisions import Decisions
from agent.proxy.services import GuardServices
from tests.integration.proxy.harness import SIGN_IN_HOST, SUITE_CONTEXT, SUITE_TENANTS
from tests.unit.proxy.addons.conftest import request_flow


async def test_tenant_headers_whatever_the_phase(services: GuardServices, decisions: Decisions) -> None:
    routing, tenants = Routing(services, decisions), TenantHeaders(services, decisions)
    with taddons.context(routing, tenants):  # type: ignore[no-untyped-call]
        flow = request_flow(SIGN_IN_HOST, method=b"GET", restrict_access_to_tenants="personal.example")
        routing.requestheaders(flow)
        tenants.requestheaders(flow)
        assert flow.request.headers.get_all("restrict-access-to-tenants") == [",".join(SUITE_TENANTS)]
        assert flow.request.headers["restrict-access-context"] == SUITE_CONTEXT
        other = request_flow("example.org", method=b"GET")
        routing.requestheaders(other)
        tenants.requestheaders(other)
        assert "restrict-access-context" not in other.request.headers
        assert services.counters.tenant_restricted == 1
        tenants.requestheaders(request_flow("example.org"))  # never routed: nothing to do, no crash
