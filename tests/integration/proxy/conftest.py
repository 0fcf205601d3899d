"""One real proxy per test module, loopback "AI services", and enrolled clinical recordings."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from agent.store import open_store
from tests.integration.proxy.harness import APPROVED_HOST, UNAPPROVED_HOST, ProxyProcess
from tests.integration.proxy.upstream import Upstream, upstream
from tests.support.media import DICTATIONS, OTHER_SPEECH, MediaFactory


@dataclass(frozen=True)
class Recordings:
    clinical_wav: Path
    """Enrolled (the clinical original)."""
    clinical_mp3: Path
    """The same dictation re-encoded: what a clinician would upload."""
    clinical_pcm24k: Path
    """The dictation as headerless s16le 24 kHz mono (realtime APIs)."""
    other_mp3: Path
    """Speech that is not enrolled."""
    other_pcm24k: Path
    clinical_excerpt_wav: Path
    """The first 8 s, 16 kHz mono WAV: split into parts for resumable uploads."""
    other_excerpt_wav: Path
    asset_id: str


@pytest.fixture(scope="session")
def recordings(media_factory: MediaFactory) -> Recordings:
    clinical = media_factory.speech(DICTATIONS[0])
    other = media_factory.speech(OTHER_SPEECH[0])
    return Recordings(
        clinical_wav=clinical,
        clinical_mp3=media_factory.encode(clinical, ".mp3", "-ac", "1", "-b:a", "48k"),
        clinical_pcm24k=media_factory.encode(clinical, ".pcm", "-f", "s16le", "-ac", "1", "-ar", "24000"),
        other_mp3=media_factory.encode(other, ".mp3", "-ac", "1", "-b:a", "48k"),
        other_pcm24k=media_factory.encode(other, ".pcm", "-f", "s16le", "-ac", "1", "-ar", "24000"),
        clinical_excerpt_wav=media_factory.encode(clinical, ".wav", "-t", "8", "-ac", "1", "-ar", "16000"),
        other_excerpt_wav=media_factory.encode(other, ".wav", "-t", "8", "-ac", "1", "-ar", "16000"),
        asset_id=hashlib.sha256(clinical.read_bytes()).hexdigest(),
    )


@pytest.fixture(scope="module")
def upstream_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def upstream_ca_file(upstream_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("upstream-ca") / "ca.pem"
    upstream_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def unapproved(upstream_ca: trustme.CA) -> Iterator[Upstream]:
    with upstream(UNAPPROVED_HOST, upstream_ca) as server:
        yield server


@pytest.fixture(scope="module")
def approved(upstream_ca: trustme.CA) -> Iterator[Upstream]:
    with upstream(APPROVED_HOST, upstream_ca) as server:
        yield server


@pytest.fixture(scope="module")
def unknown(upstream_ca: trustme.CA) -> Iterator[Upstream]:
    with upstream("127.0.0.1", upstream_ca) as server:
        yield server


def enroll(store_url: str, paths: list[Path]) -> None:
    from agent.media import MediaService

    store = open_store(store_url)
    try:
        service = MediaService(store, agent_id="test-agent")
        for path in paths:
            outcome = service.enroll_path(path)
            assert outcome.error is None, outcome.error
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, upstream_ca_file: Path, recordings: Recordings
) -> Iterator[ProxyProcess]:
    process = ProxyProcess(tmp_path_factory.mktemp("proxy"), upstream_ca=upstream_ca_file)
    enroll(process.store_url, [recordings.clinical_wav])
    process.start()
    yield process
    code = process.stop()
    assert code == 0, process.log()[-3000:]
    assert "Traceback" not in process.log(), process.log()[-5000:]
