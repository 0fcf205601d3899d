"""A real headless Chromium driven over the Chrome DevTools Protocol, for proxy tests.

Chromium is started with its own throw-away profile, pointed at a proxy, and driven through
one page target over CDP's websocket (the `websockets` package the agent already uses): no
chromedriver or selenium. Tests use it to send uploads the way a web app does, with page
JavaScript (`fetch` with Blob, FormData and URLSearchParams bodies), so the request bytes
are Chromium's own (its multipart boundaries, its Content-Types, HTTP/2 to the proxy).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_binary() -> str | None:
    """The first Chromium on PATH (Debian's package is `chromium`)."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("chromium is not installed (Debian package `chromium`: run scripts/setup.sh --dev)")
    return binary


class CdpError(RuntimeError):
    """A CDP command failed or page JavaScript threw."""


class Chromium:
    """One headless Chromium process with one page, its traffic sent through `proxy_url`."""

    def __init__(self, binary: str, profile: Path, proxy_url: str, extra_args: tuple[str, ...] = ()) -> None:
        self.profile = profile
        argv = [
            binary,
            "--headless=new",
            "--no-sandbox",  # the tests run as root in containers
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-features=Translate,OptimizationHints,MediaRouter,HttpsUpgrades",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            f"--proxy-server={proxy_url}",
            # Chromium never proxies loopback unless told to; the "AI services" live there.
            "--proxy-bypass-list=<-loopback>",
            # The proxy's CA is a throw-away test CA; trusting it per profile needs NSS tools.
            "--ignore-certificate-errors",
            *extra_args,
            "about:blank",
        ]
        self.log_file = profile / "chromium.log"
        profile.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TMPDIR": str(profile)}  # its scratch files go with the profile, not /tmp
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.log_file.open("wb"), env=env)
        self._ids = itertools.count(1)
        self.ws = self._connect_page()

    def _devtools_port(self, timeout: float) -> int:
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_file.exists():
                lines = port_file.read_text().split()
                if lines:
                    return int(lines[0])
            if self.proc.poll() is not None:
                raise CdpError(f"chromium exited with {self.proc.returncode}: {self.log()[-2000:]}")
            time.sleep(0.1)
        raise CdpError(f"chromium did not open its DevTools port in {timeout} s: {self.log()[-2000:]}")

    def _connect_page(self, timeout: float = 60.0) -> ClientConnection:
        port = self._devtools_port(timeout)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
        with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.load(answer)
        page = next(t for t in targets if t.get("type") == "page")
        return connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def command(self, method: str, timeout: float = 120.0, **params: Any) -> dict[str, Any]:
        """Send one CDP command to the page and wait for its answer (events are skipped)."""
        ident = next(self._ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CdpError(f"{method}: no answer in {timeout} s")
            message = json.loads(self.ws.recv(timeout=remaining))
            if message.get("id") != ident:
                continue
            if "error" in message:
                raise CdpError(f"{method}: {message['error']}")
            result: dict[str, Any] = message.get("result", {})
            return result

    def navigate(self, url: str, timeout: float = 60.0) -> None:
        """Open `url` in the page and wait until its document has loaded."""
        self.command("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.evaluate("document.readyState + ' ' + location.href")
            if isinstance(state, str) and state.startswith("complete ") and state.split(" ", 1)[1].startswith(url):
                return
            time.sleep(0.1)
        raise CdpError(f"{url} did not load in {timeout} s")

    def evaluate(self, expression: str, timeout: float = 120.0) -> Any:
        """Run page JavaScript (awaiting a promise) and return its JSON value."""
        result = self.command(
            "Runtime.evaluate", timeout=timeout, expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"page JavaScript failed: {text}")
        return result["result"].get("value")

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
