"""Reading repository files for the TUF client: from a directory or over HTTP(S), bounded.

Both fetchers stream in chunks; ngclient's `download_bytes(url, max_length)` stops at the
length limit, so an oversized file is never held in memory. The HTTP fetcher ignores
HTTP(S)_PROXY on purpose: the workstation's proxy variables usually point at PhiWall's own
intercepting proxy, and update traffic must not depend on (or loop through) it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import urllib3
from tuf.api import exceptions
from tuf.ngclient import FetcherInterface

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


class HttpFetcher(FetcherInterface):
    """Plain urllib3, short timeouts, no retries (the poll loop retries), no environment proxy."""

    def __init__(self, *, connect_timeout: float = 5.0, read_timeout: float = 15.0, ca_file: str | None = None) -> None:
        self.last_url: str | None = None
        self._pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            # No retries (the poll loop retries); up to 3 redirects (content is verified by TUF anyway).
            retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=3),
            headers={"User-Agent": "phiwall-updates"},
            ca_certs=ca_file or os.environ.get("PHIWALL_UPDATES_CA_FILE") or None,
        )

    def _fetch(self, url: str) -> Iterator[bytes]:
        self.last_url = url
        try:
            response = self._pool.request("GET", url, preload_content=False)
        except urllib3.exceptions.HTTPError as exc:
            raise exceptions.DownloadError(f"cannot fetch {url}: {exc}") from None
        if response.status != 200:
            response.release_conn()
            raise exceptions.DownloadHTTPError(f"HTTP {response.status} for {url}", response.status)
        return self._stream(response, url)

    @staticmethod
    def _stream(response: urllib3.BaseHTTPResponse, url: str) -> Iterator[bytes]:
        try:
            yield from response.stream(CHUNK)
        except urllib3.exceptions.HTTPError as exc:
            raise exceptions.DownloadError(f"reading {url} failed: {exc}") from None
        finally:
            response.release_conn()


def base_urls(repository: str) -> tuple[str, str, FetcherInterface]:
    """Metadata URL, targets URL and the fetcher for a repository given as a dir or http(s) URL."""
    parts = urlsplit(repository)
    if parts.scheme in ("http", "https"):
        base = repository.rstrip("/") + "/"
        return base + "metadata/", base + "targets/", HttpFetcher()
    if parts.scheme == "file":
        root = Path(unquote(parts.path))
    elif parts.scheme == "" or (len(parts.scheme) == 1 and os.name == "nt"):
        root = Path(repository).expanduser()
    else:
        raise ValueError(f"repository {repository!r}: use a directory or an http(s):// URL")
    root = root.resolve()
    return (root / "metadata").as_uri() + "/", (root / "targets").as_uri() + "/", DirectoryFetcher(root)
