"""The answer a blocked client sees (DESIGN.md §4 block contract).

403 with `X-PhiWall-Verdict: block` and `X-PhiWall-Incident: <event id>`; JSON shaped like an
OpenAI-style API error (SDKs surface `error.message`) for API clients, a short HTML page for
browser navigations. The text says what happened and what to do, never which enrolled file
matched (that can name a patient; analysts see it in the console).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass

BLOCK_STATUS = 403
VERDICT_HEADER = "X-PhiWall-Verdict"
INCIDENT_HEADER = "X-PhiWall-Incident"
ERROR_TYPE = "phiwall_blocked"
ADVICE = "If you need to send this, ask your IT or information-security team."


@dataclass(frozen=True)
class BlockAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def wants_html(request_headers: Mapping[str, str]) -> bool:
    """True for browser navigations (address bar, form posts); API clients and fetch/XHR get JSON."""
    dest = request_headers.get("sec-fetch-dest", "").lower()
    if dest:
        return dest in ("document", "iframe", "frame")
    accept = request_headers.get("accept", "").lower()
    return "text/html" in accept


def message_for(reason: str, incident: str) -> str:
    return f"PhiWall blocked this request: {reason}. Incident {incident}. {ADVICE}"


def _html_page(reason: str, incident: str) -> bytes:
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Blocked by PhiWall</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;line-height:1.5;color:#222}}
h1{{color:#a40000}} code{{background:#eee;padding:0 .3em}}</style></head>
<body><h1>Upload blocked</h1>
<p>PhiWall stopped this request because {html.escape(reason)}.</p>
<p>Incident: <code>{html.escape(incident)}</code></p>
<p>{html.escape(ADVICE)}</p></body></html>
"""
    return page.encode("utf-8")


def block_answer(reason: str, incident: str, request_headers: Mapping[str, str]) -> BlockAnswer:
    """The 403 for a blocked request, in the form the client will show."""
    headers = {
        VERDICT_HEADER: "block",
        INCIDENT_HEADER: incident,
        "Cache-Control": "no-store",
    }
    if wants_html(request_headers):
        headers["Content-Type"] = "text/html; charset=utf-8"
        return BlockAnswer(BLOCK_STATUS, headers, _html_page(reason, incident))
    body = {
        "error": {
            "type": ERROR_TYPE,
            "code": ERROR_TYPE,
            "message": message_for(reason, incident),
            "incident": incident,
        }
    }
    headers["Content-Type"] = "application/json"
    return BlockAnswer(BLOCK_STATUS, headers, json.dumps(body).encode("utf-8"))
