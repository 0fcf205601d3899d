"""The PAC file and its server: internal hosts go direct, AI hosts fail closed through the proxy,
other public hosts go through the proxy with a direct fallback.

The PAC is evaluated by a real JavaScript engine (node) with the PAC helper functions
browsers provide, and served by the real socket-activated server over loopback.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

LIB = Path(__file__).resolve().parents[2] / "installer" / "lib"

# The two PAC helpers our file uses, as browsers define them (Mozilla's pac_utils.js).
PAC_HELPERS = r"""
function dnsDomainIs(host, domain) {
  return host.length >= domain.length && host.substring(host.length - domain.length) == domain;
}
function shExpMatch(url, pattern) {
  pattern = pattern.replace(/\./g, '\\.').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp('^' + pattern + '$').test(url);
}
"""


def make_pac(tmp_path: Path, *extra: str) -> Path:
    pac = tmp_path / "proxy.pac"
    subprocess.run(
        [sys.executable, str(LIB / "make_pac.py"), str(pac), "--proxy", "127.0.0.1:18080", *extra], check=True
    )
    return pac


def evaluate(pac: Path, hosts: list[str]) -> dict[str, str]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: cannot evaluate the PAC file")
    script = (
        PAC_HELPERS
        + pac.read_text()
        + f"\nconst hosts = {json.dumps(hosts)};\n"
        + "const out = {}; for (const h of hosts) out[h] = FindProxyForURL('https://' + h + '/', h);\n"
        + "console.log(JSON.stringify(out));\n"
    )
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_catalog_hosts_go_to_the_proxy_with_no_direct_fallback(tmp_path: Path) -> None:
    ai = ["api.openai.com", "API.OpenAI.com.", "chatgpt.com", "files.oaiusercontent.com", "a.b.chatgpt.com"]
    ai += ["myres.openai.azure.com", "europe-west4-aiplatform.googleapis.com", "api.anthropic.com"]
    other = ["example.org", "openai.com.evil.example", "notchatgpt.com", "ehr.hospital.local", "openai.azure.com"]
    answers = evaluate(make_pac(tmp_path), ai + other)
    assert {host: answers[host] for host in ai} == dict.fromkeys(ai, "PROXY 127.0.0.1:18080")
    assert {host: answers[host] for host in other} == dict.fromkeys(other, "PROXY 127.0.0.1:18080; DIRECT")


def test_internal_zone_goes_direct(tmp_path: Path) -> None:
    """Private/link-local/loopback literals, plain intranet names and the config's internal domains."""
    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text(f'[agent]\ndata_dir = "{data}"\n[zones]\ninternal = ["hospital.example", "203.0.113.0/24"]\n')
    internal = ["10.1.2.3", "172.16.9.9", "192.168.0.10", "169.254.1.1", "127.0.0.1", "[::1]", "fd00::5", "fe80::1"]
    internal += ["pacs", "hospital.example", "pacs.hospital.example", "EHR.Hospital.Example.", "203.0.113.50"]
    public = ["172.32.0.1", "8.8.8.8", "evilhospital.example", "hospital.example.evil.com", "2001:db8::1", "::12"]
    answers = evaluate(make_pac(tmp_path, "--config", str(config)), internal + public + ["api.openai.com"])
    assert {host: answers[host] for host in internal} == dict.fromkeys(internal, "DIRECT")
    assert {host: answers[host] for host in public} == dict.fromkeys(public, "PROXY 127.0.0.1:18080; DIRECT")
    assert answers["api.openai.com"] == "PROXY 127.0.0.1:18080"


def test_no_proxy_lists_the_internal_zone(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[agent]\ndata_dir = "{tmp_path / "data"}"\n[zones]\ninternal = ["hospital.example"]\n')
    printed = subprocess.run(
        [sys.executable, str(LIB / "make_pac.py"), "--print-no-proxy", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    entries = printed.split(",")
    assert entries[:3] == ["localhost", "127.0.0.1", "::1"]
    assert ".hospital.example" in entries
    assert "10.0.0.0/8" in entries
    assert "192.168.0.0/16" in entries


def test_pac_server_serves_the_file_on_a_socket_passed_by_systemd(tmp_path: Path) -> None:
    pac = make_pac(tmp_path)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    # sd_listen_fds protocol: the socket is fd 3 and LISTEN_PID names the server process.
    launcher = (
        "import os, sys; os.dup2(int(sys.argv[1]), 3); os.close(int(sys.argv[1])); "
        "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1'); "
        "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", launcher, str(fd), str(LIB / "pac_server.py"), str(pac)], pass_fds=(fd,)
    )
    listener.close()  # the server owns it now; connections queue in the kernel meanwhile
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False) as client:
            deadline = time.monotonic() + 15
            while True:
                try:
                    response = client.get("/proxy.pac")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/x-ns-proxy-autoconfig"
            assert response.content == pac.read_bytes()
            assert client.get("/etc/passwd").status_code == 404
            pac.unlink()  # a missing file is an error answer, never an empty PAC (which means DIRECT)
            assert client.get("/wpad.dat").status_code == 503
    finally:
        server.terminate()
        server.wait(10)


def test_make_ca_writes_the_key_0600_and_keeps_an_existing_ca(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    first = subprocess.run(
        [sys.executable, str(LIB / "make_ca.py"), str(ca_dir)], capture_output=True, text=True, check=True
    )
    cert = Path(first.stdout.strip())
    key = ca_dir / "mitmproxy-ca.pem"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert oct(ca_dir.stat().st_mode & 0o777) == "0o700"
    assert b"PRIVATE KEY" not in cert.read_bytes()
    assert (
        b"PhiWall proxy CA"
        in subprocess.run(
            ["openssl", "x509", "-noout", "-subject", "-in", str(cert)], capture_output=True, check=True
        ).stdout
    )
    before = key.read_bytes()
    subprocess.run([sys.executable, str(LIB / "make_ca.py"), str(ca_dir)], capture_output=True, check=True)
    assert key.read_bytes() == before
