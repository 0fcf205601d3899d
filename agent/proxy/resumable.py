"""Uploads split over several requests: recognise the chunks and reassemble them, bounded.

A recording cut into 8 MB chunks must not slip through because no single chunk is
recognisable. Each chunk request is identified by protocol (Google/Gemini resumable, tus,
OpenAI Uploads parts, generic `Content-Range`), keyed to its upload session, and appended to
the session's contiguous prefix; the proxy fingerprints the prefix as it grows, so the chunk
that completes a recognisable excerpt is the one blocked, and once a session is found
clinical every later chunk (and the completing call) is refused without further work.

State is bounded: at most `max_sessions` sessions (least recently used evicted), each at most
`max_bytes` of prefix (beyond it the session is marked `overflow` and the caller decides, which
for unapproved AI services means failing closed), idle sessions expire after `ttl_s`.
Session keys are host + upload id; no payload bytes outlive their session.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Protocol = Literal["google", "tus", "openai-uploads", "content-range"]

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_OPENAI_PART = re.compile(r"^/v1/uploads/(upload_[A-Za-z0-9_-]{1,128})/parts/?$")
_OPENAI_COMPLETE = re.compile(r"^/v1/uploads/(upload_[A-Za-z0-9_-]{1,128})/(complete|cancel)/?$")
SESSION_QUERY_KEYS = ("upload_id", "uploadId", "upload-id", "session_id", "sessionId")
MAX_PENDING_CHUNKS = 16


@dataclass(frozen=True)
class ChunkRequest:
    """What a request is within a chunked upload."""

    protocol: Protocol
    key: str
    offset: int | None
    """Byte offset of this request's data in the upload; None: appended in arrival order."""
    final: bool
    """This request completes the upload."""
    control: bool = False
    """Carries no upload data (complete/cancel/status query)."""
    multipart_field: str | None = None
    """The multipart field holding the chunk's bytes (OpenAI parts: "data")."""


def _header(headers: Mapping[str, str], name: str) -> str:
    return headers.get(name, "")


def _session_id(host: str, path: str, query: Mapping[str, str]) -> str:
    for key in SESSION_QUERY_KEYS:
        value = query.get(key)
        if value:
            return f"{host}{path}?{key}={value[:200]}"
    return f"{host}{path}"


def identify_chunk(
    method: str, host: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]
) -> ChunkRequest | None:
    """The chunk this request carries, or None if it is not part of a chunked upload.

    `headers` must be keyed by lower-case names (or be case-insensitive).
    """
    method = method.upper()
    if (match := _OPENAI_PART.match(path)) and method == "POST":
        return ChunkRequest("openai-uploads", f"{host}/{match.group(1)}", None, False, multipart_field="data")
    if (match := _OPENAI_COMPLETE.match(path)) and method == "POST":
        return ChunkRequest("openai-uploads", f"{host}/{match.group(1)}", None, True, control=True)
    command = _header(headers, "x-goog-upload-command").lower()
    if command and "start" not in command:
        offset_text = _header(headers, "x-goog-upload-offset")
        offset = int(offset_text) if offset_text.strip().isdigit() else None
        tokens = {token.strip() for token in command.split(",")}
        return ChunkRequest(
            "google",
            _session_id(host, path, query),
            offset,
            "finalize" in tokens,
            control="upload" not in tokens,
        )
    if _header(headers, "tus-resumable") and method == "PATCH":
        offset_text = _header(headers, "upload-offset")
        offset = int(offset_text) if offset_text.strip().isdigit() else None
        return ChunkRequest("tus", f"{host}{path}", offset, False)
    content_range = _header(headers, "content-range")
    if content_range and method in ("PUT", "POST", "PATCH"):
        match = _CONTENT_RANGE.match(content_range)
        if match is None:
            # "bytes */total" status queries carry no data.
            return ChunkRequest("content-range", _session_id(host, path, query), None, False, control=True)
        start, end, total = int(match.group(1)), int(match.group(2)), match.group(3)
        final = total != "*" and end + 1 >= int(total)
        return ChunkRequest("content-range", _session_id(host, path, query), start, final)
    return None


@dataclass(frozen=True)
class SessionFlag:
    """Why a session is refused from now on (its first block), for the later chunks' events."""

    incident: str
    reason: str
    asset_id: str | None = None


@dataclass
class UploadSession:
    key: str
    protocol: Protocol
    prefix: bytearray = field(default_factory=bytearray)
    pending: dict[int, bytes] = field(default_factory=dict)
    chunks: int = 0
    received: int = 0
    overflow: bool = False
    flagged: SessionFlag | None = None
    audited: bool = False
    failed: SessionFlag | None = None
    """An earlier chunk failed closed: later chunks are still read (to be joined), and refused."""
    walked: int = 0
    """Bytes of the prefix when it was last walked as an archive (agent.payload.joining)."""
    last_seen: float = field(default_factory=time.monotonic)

    def add(self, data: bytes | memoryview, offset: int | None, max_bytes: int) -> bool:
        """Place a chunk; True when the contiguous prefix grew (worth fingerprinting again)."""
        self.chunks += 1
        self.received += len(data)
        self.last_seen = time.monotonic()
        if self.overflow:
            return False
        before = len(self.prefix)
        if offset is None:
            offset = len(self.prefix)
        if offset > len(self.prefix):
            if len(self.pending) >= MAX_PENDING_CHUNKS or sum(map(len, self.pending.values())) + len(data) > max_bytes:
                self.overflow = True
                return False
            self.pending[offset] = bytes(data)  # a view would keep its whole request body alive
            return False
        self._append_at(offset, data, max_bytes)
        while not self.overflow and len(self.prefix) in self.pending:
            self._append_at(len(self.prefix), self.pending.pop(len(self.prefix)), max_bytes)
        # Chunks that the prefix has overtaken are retransmissions: drop them.
        for stale in [o for o in self.pending if o < len(self.prefix)]:
            chunk = self.pending.pop(stale)
            if stale + len(chunk) > len(self.prefix):
                self._append_at(stale, chunk, max_bytes)
        return len(self.prefix) > before

    def _append_at(self, offset: int, data: bytes | memoryview, max_bytes: int) -> None:
        tail = data[len(self.prefix) - offset :]
        if len(self.prefix) + len(tail) > max_bytes:
            self.overflow = True
            return
        self.prefix += tail

    def release(self) -> None:
        """Drop the bytes (the session is decided or finished); keep the facts."""
        self.prefix = bytearray()
        self.pending.clear()


class SessionTable:
    """Upload sessions by key: LRU-bounded, idle sessions expire."""

    def __init__(self, *, max_sessions: int = 256, max_bytes: int = 256 << 20, ttl_s: float = 3600.0) -> None:
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._sessions: OrderedDict[str, UploadSession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, key: str) -> UploadSession | None:
        self._expire()
        session = self._sessions.get(key)
        if session is not None:
            self._sessions.move_to_end(key)
        return session

    def open(self, chunk: ChunkRequest) -> UploadSession:
        session = self.get(chunk.key)
        if session is None:
            session = UploadSession(chunk.key, chunk.protocol)
            self._sessions[chunk.key] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return session

    def buffered_bytes(self) -> int:
        return sum(len(s.prefix) + sum(map(len, s.pending.values())) for s in self._sessions.values())

    def _expire(self) -> None:
        horizon = time.monotonic() - self.ttl_s
        while self._sessions:
            key, oldest = next(iter(self._sessions.items()))
            if oldest.last_seen >= horizon:
                break
            del self._sessions[key]
