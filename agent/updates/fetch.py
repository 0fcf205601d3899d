"""Reading repository files for the TUF client: from a directory or over HTTP(S), bounded.

Both fetchers stream in chunks; ngclient's `download_bytes(url, max_length)` stops at the
length limit, so an oversized file is never held in memory. Over HTTP every check is bounded
in time (`FetchLimits`): a stalled or slow-drip server is abandoned with `FetchAbandoned`. The HTTP fetcher ignores
HTTP(S)_PROXY on purpose: the workstation's proxy variables usually point at PhiWall's own
intercepting proxy, and update traffic must not depend on (or loop through) it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import urllib3
import urllib3.connection
from tuf.api import exceptions
from tuf.ngclient import FetcherInterface

from agent.config import SignaturesSection
from agent.environment import environment

CHUNK = 64 << 10


class DirectoryFetcher(FetcherInterface):
    """Serves `file://` URLs under one repository directory (air-gapped sites, shares, tests)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.last_url: str | None = None

    def _fetch(self, url: str) -> Iterator[bytes]:
        self.last_url = url
        parts = urlsplit(url)
        if parts.scheme != "file":
            raise exceptions.DownloadError(f"not a file URL: {url}")
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self.root):
            raise exceptions.DownloadError(f"{url} is outside the repository {self.root}")
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the generator below
        except FileNotFoundError:
            # ngclient walks root versions until 404: a missing file is "not found", not a fault.
            raise exceptions.DownloadHTTPError(f"{path} not found", 404) from None
        except OSError as exc:
            raise exceptions.DownloadError(f"cannot read {path}: {exc.strerror}") from None
        return _chunks(handle)


def _chunks(handle: object) -> Iterator[bytes]:
    with handle:  # type: ignore[attr-defined]
        while chunk := handle.read(CHUNK):  # type: ignore[attr-defined]
            yield chunk


@dataclass(frozen=True)
class FetchLimits:
    """Time bounds of one update check (`[signatures] fetch_*` in the config).

    A read timeout alone bounds each read, not a download: a server sending one byte per
    second never trips it. So a check also has an overall deadline (every file it reads,
    enforced by a watchdog that closes the connection), a stall timeout (no byte at all for
    that long) and a minimum average rate per file once past a short grace period.
    """

    deadline: float = 120.0
    stall_timeout: float = 15.0
    min_rate: int = 1024
    rate_grace: float = 5.0
    connect_timeout: float = 5.0


def limits_from_config(section: SignaturesSection) -> FetchLimits:
    return FetchLimits(
        deadline=section.fetch_deadline,
        stall_timeout=section.fetch_stall_timeout,
        min_rate=section.fetch_min_rate,
        rate_grace=section.fetch_rate_grace,
    )


class FetchAbandoned(exceptions.DownloadError):
    """A download given up on purpose: stalled, too slow, past the deadline, or cancelled."""


_current = threading.local()  # the fetcher whose request runs on this thread (tracks its sockets)


def _track(sock: socket.socket | None) -> None:
    fetcher = getattr(_current, "fetcher", None)
    if fetcher is not None and sock is not None:
        fetcher._adopt(sock)


class _TrackedHTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _track(self.sock)


class _TrackedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _track(self.sock)


class _TrackedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


def _name(url: str) -> str:
    """The file a URL names, without the content hash of consistent-snapshot targets."""
    name = url.rsplit("/", 1)[-1] or url
    digest, dot, rest = name.partition(".")
    return rest if dot and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else name


class HttpFetcher(FetcherInterface):
    """urllib3 without retries (the poll loop retries) or environment proxy, bounded in time.

    One fetcher serves one update check: the deadline runs from its first request. A
    watchdog thread per request shuts the connection's socket down when the deadline passes
    or `cancel` is set (the agent is stopping), which ends any blocked read at once.
    """

    def __init__(
        self,
        limits: FetchLimits | None = None,
        *,
        ca_file: str | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.limits = limits or FetchLimits()
        self.last_url: str | None = None
        self._cancel = cancel or threading.Event()
        self._started: float | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._abandoned: str | None = None
        self._pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=self.limits.connect_timeout, read=self.limits.stall_timeout),
            # No retries (the poll loop retries); up to 3 redirects (content is verified by TUF anyway).
            retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=3),
            # A fresh connection per file: every socket is one the watchdog knows.
            headers={"User-Agent": "phiwall-updates", "Connection": "close"},
            ca_certs=ca_file or _ca_file_from_environment(),
        )
        self._pool.pool_classes_by_scheme = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}

    def _adopt(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _fetch(self, url: str) -> Iterator[bytes]:
        self.last_url = url
        limits = self.limits
        self._abandoned = None
        with self._lock:
            self._sockets = []
        if self._cancel.is_set():
            raise FetchAbandoned("update check cancelled: the agent is stopping")
        now = time.monotonic()
        if self._started is None:
            self._started = now
        deadline_at = self._started + limits.deadline
        remaining = deadline_at - now
        if remaining <= 0:
            raise FetchAbandoned(f"{_name(url)}: not started, the check passed its {limits.deadline:g} s deadline")
        done = threading.Event()
        threading.Thread(
            target=self._watch, args=(done, deadline_at, url), name="phiwall-fetch-watchdog", daemon=True
        ).start()
        _current.fetcher = self
        try:
            response = self._pool.request(
                "GET",
                url,
                preload_content=False,
                timeout=urllib3.Timeout(
                    connect=min(limits.connect_timeout, remaining), read=min(limits.stall_timeout, remaining)
                ),
            )
        except urllib3.exceptions.HTTPError as exc:
            done.set()
            raise self._failure(url, exc) from None
        finally:
            _current.fetcher = None
        if response.status != 200:
            done.set()
            response.release_conn()
            raise exceptions.DownloadHTTPError(f"HTTP {response.status} for {url}", response.status)
        return self._stream(response, url, done)

    def _watch(self, done: threading.Event, deadline_at: float, url: str) -> None:
        while not done.wait(0.05):
            if self._cancel.is_set():
                reason = f"{_name(url)}: abandoned, the agent is stopping"
            elif time.monotonic() >= deadline_at:
                reason = f"{_name(url)}: abandoned at the update check's {self.limits.deadline:g} s deadline"
            else:
                continue
            self._abandoned = reason
            with self._lock:
                for sock in self._sockets:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
            return

    def _failure(self, url: str, exc: BaseException) -> exceptions.DownloadError:
        if self._abandoned:
            return FetchAbandoned(self._abandoned)
        cause = getattr(exc, "reason", None) or exc
        if isinstance(cause, urllib3.exceptions.ReadTimeoutError | TimeoutError | socket.timeout):
            return FetchAbandoned(f"{_name(url)}: stalled, no data for {self.limits.stall_timeout:g} s")
        return exceptions.DownloadError(f"cannot fetch {url}: {exc}")

    def _stream(self, response: urllib3.BaseHTTPResponse, url: str, done: threading.Event) -> Iterator[bytes]:
        limits = self.limits
        began = time.monotonic()
        received = 0
        try:
            while chunk := response.read1(CHUNK):
                received += len(chunk)
                yield chunk
                elapsed = time.monotonic() - began
                if limits.min_rate and elapsed > limits.rate_grace and received < limits.min_rate * elapsed:
                    raise FetchAbandoned(
                        f"{_name(url)}: too slow, {received} bytes in {elapsed:.1f} s "
                        f"(minimum {limits.min_rate} bytes/s): abandoned"
                    )
            if self._abandoned:
                raise FetchAbandoned(self._abandoned)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failure(url, exc) from None
        finally:
            done.set()
            response.close()  # never reused: the next file gets a new connection the watchdog tracks
            response.release_conn()


def base_urls(
    repository: str, limits: FetchLimits | None = None, cancel: threading.Event | None = None
) -> tuple[str, str, FetcherInterface]:
    """Metadata URL, targets URL and the fetcher for a repository given as a dir or http(s) URL."""
    parts = urlsplit(repository)
    if parts.scheme in ("http", "https"):
        base = repository.rstrip("/") + "/"
        return base + "metadata/", base + "targets/", HttpFetcher(limits, cancel=cancel)
    if parts.scheme == "file":
        root = Path(unquote(parts.path))
    elif parts.scheme == "" or (len(parts.scheme) == 1 and os.name == "nt"):
        root = Path(repository).expanduser()
    else:
        raise ValueError(f"repository {repository!r}: use a directory or an http(s):// URL")
    root = root.resolve()
    return (root / "metadata").as_uri() + "/", (root / "targets").as_uri() + "/", DirectoryFetcher(root)


def _ca_file_from_environment() -> str | None:
    configured = environment().updates_ca_file
    return str(configured) if configured is not None else None
