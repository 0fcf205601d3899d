"""A real PhiWall proxy process on loopback, with a test catalog, for tests and benchmarks.

`ProxyProcess` runs `python -m agent.proxy` (the same entry point `phiwall run` supervises)
with its own data dir, store and a signature source tree whose "AI services" are loopback
addresses: an unapproved one, an approved one, plus the shipped OpenAI catalog entry, so a
blocked request to the real api.openai.com needs no network (lazy connections).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlmodel import select

from agent.store import AIServiceSeen, Event, open_store
from agent.updates.source import SHIPPED_ROOT

UNAPPROVED_HOST = "127.0.0.2"
APPROVED_HOST = "127.0.0.3"
UNAPPROVED_ID = "loopback-scribe"
APPROVED_ID = "loopback-approved"
SUITE_HOST = "127.0.0.5"
SIGN_IN_HOST = "127.0.0.6"
"""The sign-in host of the tenant-restricted suite (a login.microsoftonline.com stand-in)."""
SUITE_ID = "loopback-suite"
INTERNAL_NETWORK = "127.0.0.8/29"
"""Stands in for the hospital's private range in tests: loopback itself stays "public" here, so the
uncatalogued loopback upstream (127.0.0.1) plays an unknown public host."""
INTERNAL_HOST = "127.0.0.9"
"""A PACS stand-in inside INTERNAL_NETWORK."""
SUITE_TENANTS = ("hospital.example", "hospital.onmicrosoft.com")
SUITE_CONTEXT = "11111111-2222-3333-4444-555555555555"

_RESTRICTED_SERVICE = f"""
  - id: {SUITE_ID}
    name: Loopback Suite
    vendor: PhiWall tests
    category: chat
    interface: web
    hosts: ["{SUITE_HOST}"]
    examples: ["https://{SUITE_HOST}/chat"]
    tenant:
      restriction:
        hosts: ["{SIGN_IN_HOST}"]
        headers:
          Restrict-Access-To-Tenants: "{{tenants}}"
          Restrict-Access-Context: "{{context}}"
"""

_SERVICE = """
  - id: {id}
    name: {name}
    vendor: PhiWall tests
    category: transcription
    interface: api
    hosts: ["{host}"]
    examples: ["https://{host}/v1/audio/transcriptions"]
    endpoints:
      - path: /v1/audio/transcriptions
        multipart_fields: [file]
        example: /v1/audio/transcriptions
      - path: /v1/chat/completions
        json_base64: ["messages[*].content[*].input_audio.data"]
        example: /v1/chat/completions
      - path: /v1/uploads/{{upload_id}}/parts
        multipart_fields: [data]
        resumable: openai-uploads
        example: /v1/uploads/upload_abc/parts
      - path: /v1/realtime
        methods: [GET]
        transport: websocket
        stream:
          event_types: [input_audio_buffer.append]
          media_json: [audio]
          pcm: {{sample_rate: 24000, channels: 1, sample_format: s16le}}
        example: /v1/realtime
"""


def write_signatures(root: Path, *, unknown_ai: str = "inspect", policy_extra: str = "") -> Path:
    """A signature source tree: loopback services + the shipped OpenAI entry.

    Approves one service outright and the loopback suite for two tenants (enforced by the
    tenant-restriction headers the proxy injects on its sign-in host).
    """
    root.mkdir(parents=True, exist_ok=True)
    catalog = root / "catalog"
    catalog.mkdir(exist_ok=True)
    (root / "policy").mkdir(exist_ok=True)
    (root / "manifest.yaml").write_text('version: "2025.1.1"\ncatalog: catalog\npolicy: policy/test.yaml\n')
    services = "services:\n" + _SERVICE.format(id=UNAPPROVED_ID, name="Loopback Scribe", host=UNAPPROVED_HOST)
    services += _SERVICE.format(id=APPROVED_ID, name="Loopback Approved AI", host=APPROVED_HOST)
    services += _RESTRICTED_SERVICE
    (catalog / "loopback.yaml").write_text(services)
    shutil.copy(SHIPPED_ROOT / "catalog" / "openai.yaml", catalog / "openai.yaml")
    (root / "policy" / "test.yaml").write_text(
        "organisation: PhiWall tests\n"
        "approved:\n"
        f"  - {{service: {APPROVED_ID}}}\n"
        f"  - {{service: {SUITE_ID}, tenants: [{', '.join(SUITE_TENANTS)}], restriction_context: {SUITE_CONTEXT}}}\n"
        f"unknown_ai: {unknown_ai}\n"
        "internal_private_ranges: false\n"
        f"internal_zone: [{INTERNAL_NETWORK}, hospital.test]\n" + policy_extra
    )
    return root


@dataclass
class ProxyProcess:
    root: Path
    upstream_ca: Path | None = None
    max_inspect_mb: int = 32
    mode: str = "enforce"
    extra_config: str = ""
    unknown_ai: str = "inspect"
    policy_extra: str = ""
    """YAML appended to the test policy (e.g. a `deidentified:` block)."""

    def __post_init__(self) -> None:
        self.data_dir = self.root / "data"
        self.store_url = f"sqlite:///{self.root / 'phiwall.db'}"
        self.port_file = self.root / "proxy.port"
        self.log_file = self.root / "proxy.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = ""

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def ca_cert(self) -> Path:
        return self.data_dir / "ca" / "mitmproxy-ca-cert.pem"

    def write_config(self) -> Path:
        signatures = write_signatures(
            self.root / "signatures", unknown_ai=self.unknown_ai, policy_extra=self.policy_extra
        )
        config = self.root / "config.toml"
        config.write_text(
            f'[agent]\nid = "test-agent"\ndata_dir = "{self.data_dir}"\n'
            f'[signatures]\ncatalog = "{signatures}"\n'
            f"[proxy]\nmax_inspect_mb = {self.max_inspect_mb}\n"
            f'[policy]\nmode = "{self.mode}"\n{self.extra_config}'
        )
        return config

    def start(self, timeout: float = 60.0) -> ProxyProcess:
        config = self.write_config()
        argv = [
            sys.executable,
            "-m",
            "agent.proxy",
            "--listen",
            "127.0.0.1:0",
            "--config",
            str(config),
            "--port-file",
            str(self.port_file),
            "--refresh",
            "0.5",
        ]
        if self.upstream_ca is not None:
            argv += ["--set", f"ssl_verify_upstream_trusted_ca={self.upstream_ca}"]
        env = {**os.environ, "PHIWALL_DB": self.store_url, "PHIWALL_LOG_LEVEL": "INFO"}
        self.port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log_file.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.port_file.exists():
                self.address = self.port_file.read_text().strip()
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"proxy exited with {self.proc.returncode}: {self.log()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"proxy did not start in {timeout} s: {self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def rss(self) -> int:
        assert self.proc is not None
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def event(self, event_id: str, timeout: float = 10.0) -> Event:
        """The event row with this id, once the proxy's writer has stored it."""
        found = self.events(lambda e: e.id == event_id, timeout=timeout)
        return found[0]

    def events(self, predicate, timeout: float = 10.0, minimum: int = 1) -> list[Event]:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        store = open_store(self.store_url, migrate=False)
        try:
            while True:
                with store.session() as session:
                    rows = [e for e in session.exec(select(Event)).all() if predicate(e)]
                if len(rows) >= minimum or time.monotonic() > deadline:
                    return rows
                time.sleep(0.1)
        finally:
            store.dispose()

    def inventory(self) -> dict[str, AIServiceSeen]:
        """The shadow-AI inventory rows by host (read after `stop()`: the recorder flushes then)."""
        store = open_store(self.store_url, migrate=False)
        try:
            with store.session() as session:
                return {row.host: row for row in session.exec(select(AIServiceSeen)).all()}
        finally:
            store.dispose()
