"""The answer a blocked client sees.

403 with `X-PhiWall-Verdict: block` and `X-PhiWall-Incident: <event id>`; JSON shaped like an
OpenAI-style API error (SDKs surface `error.message`) for API clients, a short HTML page for
browser navigations. The text says what happened and what to do, never which enrolled file
matched (that can name a patient; analysts see it in the console). When the destination
accepts de-identified copies (policy `deidentified`), the answer names the sanctioned path,
`phiwall scrub`, in plain words; otherwise it says nothing about it.

Web apps call AI APIs with `fetch()` from their own origin. Without CORS headers a browser
hides a 403 from the page ("network error") and the clinician just retries, so every block
answer to a request with an `Origin` echoes that origin (with credentials, since web apps
send cookies), says `Vary: Origin`, and exposes the PhiWall headers to the page. A CORS
preflight (`OPTIONS` with `Access-Control-Request-Method`) that PhiWall would refuse is
answered 204 instead: it carries no data, and refusing it would again hide the 403 that
the real request then receives.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

BLOCK_STATUS = 403
VERDICT_HEADER = "X-PhiWall-Verdict"
INCIDENT_HEADER = "X-PhiWall-Incident"
ERROR_TYPE = "phiwall_blocked"
ADVICE = "If you need to send this, ask your IT or information-security team."
SCRUB_COMMAND = "phiwall scrub FILE -o COPY"


def sanctioned_path(service: str) -> str:
    """The plain-words pointer to a de-identified copy, for a destination that accepts one."""
    return (
        f"This recording identifies a patient. {service} accepts de-identified copies: "
        f"run `{SCRUB_COMMAND}` (or ask IT) and upload the copy."
    )


EXPOSED_HEADERS = f"{INCIDENT_HEADER}, {VERDICT_HEADER}"
PREFLIGHT_STATUS = 204
_ORIGIN = re.compile(r"^(null|[a-z][a-z0-9+.-]*://[^/\s?#]{1,253})$", re.IGNORECASE)
_TOKEN_LIST = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$")


@dataclass(frozen=True)
class BlockAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def cors_headers(request_headers: Mapping[str, str]) -> dict[str, str]:
    """CORS headers that let the page at the request's `Origin` read the block answer."""
    headers = {"Vary": "Origin"}
    origin = request_headers.get("origin", "").strip()
    if origin and len(origin) <= 300 and _ORIGIN.match(origin):
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Credentials"] = "true"
        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return headers


def is_preflight(method: str, request_headers: Mapping[str, str]) -> bool:
    return (
        method.upper() == "OPTIONS"
        and "origin" in request_headers
        and ("access-control-request-method" in request_headers)
    )


def preflight_answer(request_headers: Mapping[str, str]) -> BlockAnswer:
    """204 for a CORS preflight, allowing what it asks for, so the browser sends the real
    request and shows its 403 to the page. Nothing of the request is forwarded."""
    headers = cors_headers(request_headers)
    method = request_headers.get("access-control-request-method", "").strip()
    if _TOKEN_LIST.match(method):
        headers["Access-Control-Allow-Methods"] = method
    requested = request_headers.get("access-control-request-headers", "").strip()
    if requested and len(requested) <= 2000 and _TOKEN_LIST.match(requested):
        headers["Access-Control-Allow-Headers"] = requested
    headers["Access-Control-Max-Age"] = "60"
    headers["Cache-Control"] = "no-store"
    return BlockAnswer(PREFLIGHT_STATUS, headers, b"")


def wants_html(request_headers: Mapping[str, str]) -> bool:
    """True for browser navigations (address bar, form posts); API clients and fetch/XHR get JSON."""
    dest = request_headers.get("sec-fetch-dest", "").lower()
    if dest:
        return dest in ("document", "iframe", "frame")
    accept = request_headers.get("accept", "").lower()
    return "text/html" in accept


def message_for(reason: str, incident: str, accepts_copies: str | None = None) -> str:
    advice = sanctioned_path(accepts_copies) if accepts_copies else ADVICE
    return f"PhiWall blocked this request: {reason}. Incident {incident}. {advice}"


def _html_advice(accepts_copies: str | None) -> str:
    if not accepts_copies:
        return html.escape(ADVICE)
    return (
        f"This recording identifies a patient. {html.escape(accepts_copies)} accepts de-identified copies: "
        f"run <code>{html.escape(SCRUB_COMMAND)}</code> (or ask IT) and upload the copy."
    )


def _html_page(reason: str, incident: str, accepts_copies: str | None = None) -> bytes:
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Blocked by PhiWall</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;line-height:1.5;color:#222}}
h1{{color:#a40000}} code{{background:#eee;padding:0 .3em}}</style></head>
<body><h1>Upload blocked</h1>
<p>PhiWall stopped this request because {html.escape(reason)}.</p>
<p>Incident: <code>{html.escape(incident)}</code></p>
<p>{_html_advice(accepts_copies)}</p></body></html>
"""
    return page.encode("utf-8")


def block_answer(
    reason: str,
    incident: str,
    request_headers: Mapping[str, str],
    method: str = "POST",
    *,
    accepts_copies: str | None = None,
) -> BlockAnswer:
    """The 403 for a blocked request, in the form the client will show (a preflight: 204).

    `accepts_copies` names the destination when it accepts de-identified copies of what was
    blocked: the answer then points at `phiwall scrub` instead of only at IT.
    """
    if is_preflight(method, request_headers):
        return preflight_answer(request_headers)
    headers = {
        VERDICT_HEADER: "block",
        INCIDENT_HEADER: incident,
        "Cache-Control": "no-store",
        **cors_headers(request_headers),
    }
    if wants_html(request_headers):
        headers["Content-Type"] = "text/html; charset=utf-8"
        return BlockAnswer(BLOCK_STATUS, headers, _html_page(reason, incident, accepts_copies))
    error: dict[str, object] = {
        "type": ERROR_TYPE,
        "code": ERROR_TYPE,
        "message": message_for(reason, incident, accepts_copies),
        "incident": incident,
    }
    if accepts_copies:
        error["deidentified_copies_accepted"] = True
    body = {"error": error}
    headers["Content-Type"] = "application/json"
    return BlockAnswer(BLOCK_STATUS, headers, json.dumps(body).encode("utf-8"))
