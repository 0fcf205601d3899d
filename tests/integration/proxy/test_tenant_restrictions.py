"""Vendor-enforced tenant restrictions through a real proxy: the sign-in host of an approved,
tenant-restricted service receives the policy's headers (replacing the client's own), over
HTTP/1.1, HTTP/2 and plain HTTP; other hosts receive nothing. The loopback upstream echoes the
headers it received, so the test sees exactly what left the proxy."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from tests.integration.proxy.harness import SIGN_IN_HOST, SUITE_CONTEXT, SUITE_TENANTS, ProxyProcess
from tests.integration.proxy.upstream import ECHO_HEADERS_PATH, Upstream, upstream

pytestmark = pytest.mark.timeout(120)

TENANTS = ",".join(SUITE_TENANTS)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, upstream_ca_file: Path) -> Iterator[ProxyProcess]:
    """No media needed here: a proxy without enrolled recordings starts faster."""
    process = ProxyProcess(tmp_path_factory.mktemp("proxy-tenants"), upstream_ca=upstream_ca_file)
    process.start()
    yield process
    assert process.stop() == 0, process.log()[-3000:]
    assert "Traceback" not in process.log(), process.log()[-5000:]


@pytest.fixture(scope="module")
def sign_in(upstream_ca: trustme.CA) -> Iterator[Upstream]:
    with upstream(SIGN_IN_HOST, upstream_ca) as server:
        yield server


def client(proxy: ProxyProcess) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    return httpx.Client(proxy=proxy.url, verify=context, timeout=30)


def received(response: httpx.Response, name: str) -> list[str]:
    """Values of header `name` as the upstream received them (every occurrence)."""
    assert response.status_code == 200, response.text[:300]
    return [value for key, value in response.json() if key.lower() == name]


def assert_restricted(response: httpx.Response) -> None:
    assert received(response, "restrict-access-to-tenants") == [TENANTS]
    assert received(response, "restrict-access-context") == [SUITE_CONTEXT]


def test_sign_in_requests_carry_the_restriction(proxy: ProxyProcess, sign_in: Upstream) -> None:
    with client(proxy) as http:
        authorize = http.get(f"{sign_in.https}{ECHO_HEADERS_PATH}/common/oauth2/v2.0/authorize?client_id=app")
        assert_restricted(authorize)
        # A client (or a user) naming another tenant is overruled, not joined.
        login = http.post(
            f"{sign_in.https}{ECHO_HEADERS_PATH}/common/login",
            data={"login": "someone@personal.example"},
            headers={"Restrict-Access-To-Tenants": "personal.example", "Restrict-Access-Context": "0000"},
        )
        assert_restricted(login)
        assert received(login, "content-type") == ["application/x-www-form-urlencoded"]
        plain = http.get(f"{sign_in.http}{ECHO_HEADERS_PATH}")
        assert_restricted(plain)


def test_http2_clients(proxy: ProxyProcess, sign_in: Upstream) -> None:
    # curl offers h2 first (httpx offers HTTP/1.1 first through a proxy, so mitmproxy picks that).
    result = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--http2", "--max-time", "30",
            "--proxy", proxy.url, "--cacert", str(proxy.ca_cert),
            "--write-out", "\n%{http_version}",
            f"{sign_in.https}{ECHO_HEADERS_PATH}",
        ],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    body, _, version = result.stdout.decode().rpartition("\n")
    assert version == "2"
    pairs = json.loads(body)
    assert [v for k, v in pairs if k.lower() == "restrict-access-to-tenants"] == [TENANTS]
    assert [v for k, v in pairs if k.lower() == "restrict-access-context"] == [SUITE_CONTEXT]


def test_other_hosts_get_nothing(
    proxy: ProxyProcess, sign_in: Upstream, unapproved: Upstream, unknown: Upstream
) -> None:
    with client(proxy) as http:
        for server in (unknown, unapproved):
            response = http.get(f"{server.https}{ECHO_HEADERS_PATH}")
            assert received(response, "restrict-access-to-tenants") == []
            assert received(response, "restrict-access-context") == []
        # The client's own header to an unrestricted host is its business: left as sent.
        own = http.get(f"{unknown.https}{ECHO_HEADERS_PATH}", headers={"Restrict-Access-To-Tenants": "x.example"})
        assert received(own, "restrict-access-to-tenants") == ["x.example"]


def test_status_counts_restricted_requests(proxy: ProxyProcess, sign_in: Upstream) -> None:
    status_file = proxy.data_dir / "proxy-status.json"
    with client(proxy) as http:
        assert_restricted(http.get(f"{sign_in.https}{ECHO_HEADERS_PATH}"))
    deadline = time.monotonic() + 10
    count = 0
    while time.monotonic() < deadline:
        if status_file.exists():
            count = json.loads(status_file.read_text()).get("tenant_restricted", 0)
            if count:
                break
        time.sleep(0.2)
    assert count >= 1
