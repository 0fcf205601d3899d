"""The addon also runs as a plain mitmproxy script: `mitmdump -s agent/proxy/addon.py`."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.proxy.conftest import Recordings, enroll
from tests.integration.proxy.harness import ProxyProcess
from tests.integration.proxy.upstream import Upstream

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(120)
def test_mitmdump_script_enforces(
    tmp_path: Path, upstream_ca_file: Path, unapproved: Upstream, recordings: Recordings
) -> None:
    layout = ProxyProcess(tmp_path)  # only for its config, store and data dir layout
    config = layout.write_config()
    enroll(layout.store_url, [recordings.clinical_wav])
    port_file = tmp_path / "port"
    confdir = layout.data_dir / "ca"
    argv = [
        str(Path(sys.executable).with_name("mitmdump")),
        "-q",
        "-s",
        str(ROOT / "agent" / "proxy" / "addon.py"),
        "--listen-port",
        "0",
        "--set",
        f"confdir={confdir}",
        "--set",
        f"phiwall_config={config}",
        "--set",
        f"phiwall_db={layout.store_url}",
        "--set",
        f"phiwall_port_file={port_file}",
        "--set",
        f"ssl_verify_upstream_trusted_ca={upstream_ca_file}",
    ]
    log = (tmp_path / "mitmdump.log").open("wb")
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "mitmdump.log").read_text()[-3000:]
            time.sleep(0.1)
        host, port = port_file.read_text().strip().rsplit(":", 1)
        assert host == "127.0.0.1", "the addon moved the listener to loopback"
        context = ssl.create_default_context(cafile=str(confdir / "mitmproxy-ca-cert.pem"))
        with httpx.Client(proxy=f"http://{host}:{port}", verify=context, timeout=30) as client:

            def post(path: Path) -> httpx.Response:
                files = {"file": (path.name, path.read_bytes(), "audio/mpeg")}
                return client.post(f"{unapproved.https}/v1/audio/transcriptions", files=files)

            blocked = post(recordings.clinical_mp3)
            assert blocked.status_code == 403
            assert layout.event(blocked.headers["x-phiwall-incident"]).asset_id == recordings.asset_id
            assert post(recordings.other_mp3).status_code == 200
        # An upload announced beyond the inspection limit (32 MB here) is refused at its headers,
        # not buffered whole first: the addon set mitmproxy's stream_large_bodies to the limit.
        size = 64 << 20
        with socket.create_connection((host, int(port)), timeout=30) as raw:
            head = (
                f"POST {unapproved.http}/v1/audio/transcriptions HTTP/1.1\r\nHost: {unapproved.host}\r\n"
                f"Content-Type: audio/wav\r\nContent-Length: {size}\r\n\r\n"
            )
            raw.sendall(head.encode() + b"RIFF" + bytes(1 << 20))
            refused = layout.events(lambda e: e.payload_size == size, timeout=10)
        assert refused, "decided at the headers while the body was still coming"
        assert "inspection limit" in refused[0].reason
        key = confdir / "mitmproxy-ca.pem"
        assert key.stat().st_mode & 0o077 == 0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
