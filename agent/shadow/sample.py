"""One request as shadow-AI evidence: what discovery may know of a flow, gathered once.

The proxy builds one `FlowSample` per classified flow (agent.proxy.addons.shadow) and hands
it to the discovery facade; nothing downstream takes the same values as loose arguments.
Only the classifier's inputs travel: the method, target, header names and values the shape
reads, the first bytes of the decoded bodies (never stored: `RequestShape` keeps key names
and sniffed kinds only), and who sent it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class FlowSample:
    host: str
    method: str
    path: str
    """The request target as received (query included; the shape keeps parameter names only)."""
    headers: Headers
    body_prefix: bytes = b""
    """The start of the decoded request body (`MAX_BODY_PREFIX` + 1 bytes at most)."""
    response_headers: Headers | None = None
    """None until the response started."""
    body_size: int | None = None
    response_prefix: bytes = b""
    """The start of the decoded answer, when it was tapped."""
    process: str | None = None
    user: str | None = None
    blocked: bool = False

    def with_answer(self, response_prefix: bytes) -> FlowSample:
        """The same sample once the answer's first bytes arrived."""
        return dataclasses.replace(self, response_prefix=response_prefix)
