"""Uploads from a real headless Chromium, through the real proxy, built by page JavaScript.

The httpx cases in test_evasion.py send bytes the test wrote; here Chromium writes them: its
`fetch` serialises an untyped Blob (no Content-Type), a string declared
`application/json+protobuf` (AI Studio's positional JSON), `URLSearchParams` (Google
`batchexecute`'s `f.req` field holding JSON holding base64) and `FormData` (its own multipart
boundary, a zipped recording as the file), and speaks HTTP/2 to the proxy. The page is a
document of the destination itself, so each `fetch` is same-origin, as on the service's web app.

For each case the enrolled dictation is blocked at the unapproved catalog AI service (the
event names the enrolled asset and the service never receives the body), speech that is not
enrolled passes there, and the dictation itself passes to a non-AI host (a hospital system in
the internal zone).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.integration.proxy.conftest import Recordings
from tests.integration.proxy.harness import INTERNAL_HOST, UNAPPROVED_ID, ProxyProcess
from tests.integration.proxy.upstream import ECHO_HEADERS_PATH, Upstream, upstream
from tests.support.chromium import Chromium, chromium_binary, require_chromium
from tests.unit.payload import wrappers

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed (scripts/setup.sh --dev)"),
]


@dataclass(frozen=True)
class Case:
    path: str
    script: str
    """Body of an async JS function of (url, media): `media` is the payload as base64."""
    matched: str
    """How the event's `matched_part` starts: where the walker found the recording."""
    zipped: bool = False
    """Pass the recording zipped (the page gets the ZIP's bytes as base64)."""


_BYTES = "Uint8Array.from(atob(media), (c) => c.charCodeAt(0))"

CASES = {
    # An untyped Blob body: Chromium sends no Content-Type at all.
    "untyped-blob-chat": Case(
        "/v1/chat/completions",
        """
        const chat = {model: "gpt-4o-audio-preview", messages: [{role: "user", content: [
            {type: "text", text: "Transcribe this dictation."},
            {type: "input_audio", input_audio: {data: media, format: "mp3"}}]}]};
        return fetch(url, {method: "POST", body: new Blob([JSON.stringify(chat)])});
        """,
        "json:$.messages[0].content[1].input_audio.data",
    ),
    # AI Studio: positional JSON arrays, declared application/json+protobuf.
    "aistudio-json+protobuf": Case(
        "/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/GenerateContent",
        """
        const request = ["models/gemini-2.5-pro", [[[[null, "Transcribe this"], [null, null, null, null,
            [null, "audio/mpeg", media]]], "user"]], null, [null, null, null, 65536, 1]];
        return fetch(url, {method: "POST", body: JSON.stringify(request),
            headers: {"Content-Type": "application/json+protobuf"}});
        """,
        "json:$[1]",
    ),
    # Google batchexecute: an f.req form field holding JSON holding JSON holding base64.
    "batchexecute-f.req": Case(
        "/_/BardChatUi/data/batchexecute?rpcids=ESY5D&bl=boq&rt=c",
        """
        const inner = JSON.stringify([[null, [["Transcribe", 0, null, [[[media, 1], "dictation.mp3"]]]]]]);
        const form = new URLSearchParams({"f.req": JSON.stringify([[["ESY5D", inner, null, "generic"]]]),
            at: "AJvLN6M:1700000000000"});
        return fetch(url, {method: "POST", body: form});
        """,
        "form.f.req:json",
    ),
    # A file picked in an <input type=file>: FormData with the recording zipped.
    "formdata-zip": Case(
        "/v1/files",
        f"""
        const form = new FormData();
        form.append("purpose", "assistants");
        form.append("file", new Blob([{_BYTES}], {{type: "application/zip"}}), "notes.zip");
        return fetch(url, {{method: "POST", body: form}});
        """,
        "multipart:file > zip#0(.mp3)",
        zipped=True,
    ),
}


def _send(browser: Chromium, origin: str, case: Case, media: bytes) -> dict[str, object]:
    """From a page of `origin`, run the case's fetch; answer status, PhiWall headers, body."""
    if case.zipped:
        media = wrappers.zip_of({"Doe_Jane_dictation.mp3": media})
    browser.navigate(f"{origin}/app")
    script = f"""(async () => {{
        const url = {json.dumps(origin + case.path)};
        const media = {json.dumps(base64.b64encode(media).decode())};
        const response = await (async () => {{ {case.script} }})();
        return {{status: response.status, verdict: response.headers.get("x-phiwall-verdict"),
                 incident: response.headers.get("x-phiwall-incident"), text: await response.text()}};
    }})()"""
    answer: dict[str, object] = browser.evaluate(script)
    return answer


@pytest.fixture(scope="module")
def internal(upstream_ca: trustme.CA) -> Iterator[Upstream]:
    with upstream(INTERNAL_HOST, upstream_ca) as server:
        yield server


@pytest.fixture(scope="module")
def browser(proxy: ProxyProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    binary = require_chromium()
    chromium = Chromium(binary, tmp_path_factory.mktemp("chromium") / "profile", proxy.url)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.mark.parametrize("name", list(CASES))
def test_chromium_upload_blocked_to_ai_passed_elsewhere(
    name: str,
    browser: Chromium,
    proxy: ProxyProcess,
    unapproved: Upstream,
    internal: Upstream,
    recordings: Recordings,
    tmp_path: Path,
) -> None:
    case = CASES[name]
    clinical = recordings.clinical_mp3.read_bytes()
    path = case.path.split("?")[0]
    before = unapproved.received.bytes_to(path)

    blocked = _send(browser, unapproved.https, case, clinical)
    assert blocked["status"] == 403, (blocked, proxy.log()[-3000:])
    assert blocked["verdict"] == "block"
    event = proxy.event(str(blocked["incident"]))
    assert event.asset_id == recordings.asset_id, event.reason
    assert event.service_id == UNAPPROVED_ID
    details = json.loads(event.details)
    assert str(details.get("matched_part", "")).startswith(case.matched), event.details
    assert "Doe_Jane" not in event.details
    assert unapproved.received.bytes_to(path) == before, "the blocked body reached the AI service"

    passed = _send(browser, unapproved.https, case, recordings.other_mp3.read_bytes())
    assert passed["status"] == 200, passed
    assert unapproved.received.bytes_to(path) > before

    internal_before = internal.received.bytes_to(path)
    to_internal = _send(browser, internal.https, case, clinical)
    assert to_internal["status"] == 200, to_internal
    assert internal.received.bytes_to(path) > internal_before
    assert proxy.alive()


def test_chromium_sends_what_the_cases_claim(browser: Chromium, internal: Upstream) -> None:
    """The premises: an untyped Blob has no Content-Type, FormData is Chromium's own multipart."""
    browser.navigate(f"{internal.https}/app")
    script = f"""(async () => {{
        const form = new FormData();
        form.append("file", new Blob(["x"], {{type: "application/zip"}}), "notes.zip");
        const echo = (body) => fetch({json.dumps(internal.https + ECHO_HEADERS_PATH)}, {{method: "POST", body}})
            .then((r) => r.json());
        return [await echo(new Blob(["{{}}"])), await echo(form)];
    }})()"""
    blob, form = ({name.lower(): value for name, value in headers} for headers in browser.evaluate(script))
    assert "content-type" not in blob, blob
    assert form["content-type"].startswith("multipart/form-data; boundary=----WebKitFormBoundary"), form
