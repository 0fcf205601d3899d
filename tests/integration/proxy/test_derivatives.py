"""The sanctioned path end to end: enrol a recording, scrub it with the real `phiwall scrub`,
upload through a real proxy on loopback.

The test policy lets the loopback scribe (an unapproved transcription service) accept
de-identified copies (`deidentified: {services: {loopback-scribe: allow}}`); OpenAI's API keeps
the default (block). The derivative passes to the scribe and is recorded with its lineage, the
original is blocked with the sanctioned-path text, the derivative is blocked at OpenAI.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from agent.store import MediaAsset, ScrubLineage, open_store
from tests.integration.proxy.harness import UNAPPROVED_ID, ProxyProcess
from tests.integration.proxy.upstream import Upstream
from tests.support.media import DICTATIONS, MediaFactory, ffmpeg

pytestmark = pytest.mark.timeout(300)

PHIWALL = str(Path(sys.executable).with_name("phiwall"))
SANCTIONED = "accepts de-identified copies: run `phiwall scrub FILE -o COPY` (or ask IT) and upload the copy"


@dataclass(frozen=True)
class Scrubbed:
    original: Path
    original_mp3: Path
    copy: Path
    copy_mp3: Path
    source_id: str
    derivative_id: str
    lineage_id: int


def _phiwall(*args: str, db: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHIWALL_DATA_DIR": str(tmp / "cli-data")}
    return subprocess.run([PHIWALL, *args, "--db", db], env=env, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def derived_proxy(tmp_path_factory: pytest.TempPathFactory, upstream_ca_file: Path) -> Iterator[ProxyProcess]:
    process = ProxyProcess(
        tmp_path_factory.mktemp("derived-proxy"),
        upstream_ca=upstream_ca_file,
        policy_extra=f"deidentified: {{services: {{{UNAPPROVED_ID}: allow}}}}\n",
    )
    yield process
    if process.proc is None:
        return  # the scrub fixture failed before starting it
    code = process.stop()
    assert code == 0, process.log()[-3000:]
    assert "Traceback" not in process.log(), process.log()[-5000:]


@pytest.fixture(scope="module")
def scrubbed(
    derived_proxy: ProxyProcess, media_factory: MediaFactory, tmp_path_factory: pytest.TempPathFactory
) -> Scrubbed:
    """Enrol a dictation, scrub it with the real command, then start the proxy."""
    tmp = tmp_path_factory.mktemp("scrubbed")
    original = media_factory.speech(DICTATIONS[1])
    db = derived_proxy.store_url
    enrolled = _phiwall("enroll", str(original), db=db, tmp=tmp)
    assert enrolled.returncode == 0, enrolled.stderr
    copy = tmp / "dictation-scrubbed.wav"
    done = _phiwall("scrub", str(original), "-o", str(copy), db=db, tmp=tmp)
    assert done.returncode == 0, done.stderr
    assert "enrolled as derivative" in done.stdout, done.stdout
    assert "(sha256)" in done.stdout, done.stdout
    copy_mp3 = tmp / "dictation-scrubbed.mp3"
    ffmpeg("-i", str(copy), "-ac", "1", "-b:a", "48k", str(copy_mp3))
    store = open_store(db, migrate=False)
    try:
        with store.session() as session:
            (row,) = session.exec(select(ScrubLineage)).all()
            derivative = session.get(MediaAsset, row.derivative_asset_id)
            assert derivative is not None
            assert derivative.lineage_id == row.id
            assert row.source_asset_id is not None
            assert row.id is not None
            scrub = Scrubbed(
                original=original,
                original_mp3=media_factory.encode(original, ".mp3", "-ac", "1", "-b:a", "48k"),
                copy=copy,
                copy_mp3=copy_mp3,
                source_id=row.source_asset_id,
                derivative_id=derivative.id,
                lineage_id=row.id,
            )
    finally:
        store.dispose()
    derived_proxy.start()
    return scrub


@pytest.fixture
def http(derived_proxy: ProxyProcess, scrubbed: Scrubbed) -> Iterator[httpx.Client]:
    with httpx.Client(
        proxy=derived_proxy.url, verify=ssl.create_default_context(cafile=str(derived_proxy.ca_cert)), timeout=60
    ) as client:
        yield client


def _form(path: Path, mime: str) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (path.name, path.read_bytes(), mime)}


@pytest.mark.parametrize(("which", "how"), [("copy", "sha256"), ("copy_mp3", "fingerprint")])
def test_derivative_passes_where_allowed_and_is_recorded_with_its_lineage(
    derived_proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, scrubbed: Scrubbed, which: str, how: str
) -> None:
    path: Path = getattr(scrubbed, which)
    before = unapproved.received.bytes_to("/v1/audio")
    answer = http.post(
        f"{unapproved.https}/v1/audio/transcriptions",
        files=_form(path, "audio/wav" if how == "sha256" else "audio/mpeg"),
    )
    assert answer.status_code == 200, answer.text
    assert "x-phiwall-verdict" not in answer.headers
    assert unapproved.received.bytes_to("/v1/audio") - before >= path.stat().st_size, "the copy reached the service"
    events = derived_proxy.events(
        lambda e: e.service_id == UNAPPROVED_ID and e.verdict == "allow" and f'"recognised_by": "{how}"' in e.details,
        timeout=20,
    )
    assert len(events) == 1, [e.reason for e in events]
    event = events[0]
    details = json.loads(event.details)
    assert details["derivative"] == {
        "lineage": scrubbed.lineage_id,
        "derivative_asset": scrubbed.derivative_id,
        "source_asset": scrubbed.source_id,
        "recognised_by": how,
    }
    assert event.asset_id == scrubbed.derivative_id
    assert "de-identified copy" in event.reason
    assert "deidentified: allow" in event.reason


@pytest.mark.parametrize("html", [False, True])
def test_original_is_blocked_with_the_sanctioned_path(
    derived_proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, scrubbed: Scrubbed, html: bool
) -> None:
    before = unapproved.received.bytes_to("/v1/audio")
    headers = {"accept": "text/html"} if html else {}
    answer = http.post(
        f"{unapproved.https}/v1/audio/transcriptions",
        files=_form(scrubbed.original_mp3, "audio/mpeg"),
        headers=headers,
    )
    assert answer.status_code == 403, answer.text
    assert answer.headers["x-phiwall-verdict"] == "block"
    if html:
        assert answer.headers["content-type"].startswith("text/html")
        assert (
            "Loopback Scribe accepts de-identified copies: run <code>phiwall scrub FILE -o COPY</code>" in answer.text
        )
    else:
        message = answer.json()["error"]["message"]
        assert f"This recording identifies a patient. Loopback Scribe {SANCTIONED}." in message
        assert answer.json()["error"]["deidentified_copies_accepted"] is True
    assert str(scrubbed.original) not in answer.text, "never the enrolled path"
    event = derived_proxy.event(answer.headers["x-phiwall-incident"])
    assert event.asset_id == scrubbed.source_id
    assert "derivative" not in json.loads(event.details)
    assert unapproved.received.bytes_to("/v1/audio") == before, "nothing reached the AI service"


def test_derivative_is_blocked_where_not_allowed_and_says_nothing_of_copies(
    derived_proxy: ProxyProcess, http: httpx.Client, scrubbed: Scrubbed
) -> None:
    answer = http.post(
        "https://api.openai.com/v1/audio/transcriptions",
        files=_form(scrubbed.copy, "audio/wav"),
        data={"model": "whisper-1"},
    )
    assert answer.status_code == 403, answer.text
    message = answer.json()["error"]["message"]
    assert "de-identified copies" not in message
    assert "phiwall scrub" not in message
    assert "deidentified: block" in message
    event = derived_proxy.event(answer.headers["x-phiwall-incident"])
    assert event.service_id == "openai-api"
    assert json.loads(event.details)["derivative"]["lineage"] == scrubbed.lineage_id
