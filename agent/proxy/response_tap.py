"""A copy of the first bytes of a response, for the shadow-AI classifier.

What an API answers says more about it than what it was asked: a job poll (`GET
/v2/jobs/{id}`) carries no AI vocabulary, its answer does (`transcript`, `confidence`,
`choices`, `usage.prompt_tokens`). For requests to uncatalogued hosts that discovery
samples, `ResponseTap` is set as the response's stream function: every chunk passes through
unchanged and at once, and a copy of the first `RESPONSE_TAP_BYTES` is handed to a callback
when that much arrived or the body ended, whichever comes first.

Bounded and cheap by construction: only sampled flows to uncatalogued hosts (a handful per
host, then about one a second at most), only answers whose type can carry a key skeleton or
a media header (JSON, NDJSON, server-sent events, plain text, audio/image/video), never more
than `RESPONSE_TAP_BYTES` copied, and the callback runs once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.payload.walker import main_type
from agent.shadow.shape import MAX_RESPONSE_PREFIX

log = logging.getLogger(__name__)

# Compressed answers are copied raw and decoded (bounded) by the callback; 8 KB of gzip holds
# well over 8 KB of JSON, so the decoded prefix the classifier reads is rarely short.
RESPONSE_TAP_BYTES = MAX_RESPONSE_PREFIX
_TAPPED_MAJOR_TYPES = ("audio/", "image/", "video/", "text/")  # text/ includes text/event-stream


def worth_tapping(content_type: str) -> bool:
    """Whether a response of this Content-Type can tell the classifier something."""
    base = main_type(content_type)
    return bool(base) and (base.endswith("json") or base.startswith(_TAPPED_MAJOR_TYPES))


class ResponseTap:
    """`Response.stream` function: passes chunks through, keeps the first bytes for `done`.

    mitmproxy calls it once per chunk and once with b"" when the body ended; `done` is called
    once, with the raw (still content-encoded) prefix, and never raises into mitmproxy.
    """

    __slots__ = ("_chunks", "_done", "_limit", "_size")

    def __init__(self, done: Callable[[bytes], None], limit: int = RESPONSE_TAP_BYTES) -> None:
        self._done: Callable[[bytes], None] | None = done
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = limit

    def __call__(self, chunk: bytes) -> bytes:
        if self._done is not None:
            if chunk:
                room = self._limit - self._size
                taken = chunk[:room]
                self._chunks.append(taken)
                self._size += len(taken)
            if not chunk or self._size >= self._limit:
                self.finish()
        return chunk

    def finish(self) -> None:
        """Hand over what was copied (once); later calls do nothing."""
        done, self._done = self._done, None
        if done is None:
            return
        prefix = b"".join(self._chunks)
        self._chunks = []
        try:
            done(prefix)
        except Exception:  # classification must never break the response to the client
            log.exception("handling a response prefix failed")
