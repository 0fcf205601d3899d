"""Persisted index segments (`segfile`): a restart maps the audio segments an earlier run wrote
instead of rebuilding them, answers exactly as a rebuilt index does, and never trusts a file
the store disagrees with or that is corrupt (real SQLite store, real files, real mappings)."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import numpy as np
import pytest

from agent.media import MediaService, repository, segfile
from agent.media.audio_index import AudioSegment
from agent.media.decode import DecodeReport
from agent.media.fingerprint import AudioPrint, MediaPrints
from agent.media.index import search_audio
from agent.store import Store, open_store

from .test_compact_index import excerpt, generated


def enrol(store: Store, prints: list[tuple[str, AudioPrint]]) -> None:
    for asset_id, p in prints:
        report = DecodeReport(has_audio=True, audio_s=p.seconds)
        repository.save(
            store,
            asset_id=asset_id,
            prints=MediaPrints("audio", p, None, report),
            mime="audio/wav",
            path=f"/rec/{asset_id}",
            size=1,
            origin_agent_id="",
        )


def answers(service: MediaService, queries: list[AudioPrint]) -> list[list[tuple[str, float, int, float]]]:
    state = service.index.state
    return [[(c.asset_id, c.offset_s, c.lm_votes, c.cp_ber) for c in search_audio(state, q)] for q in queries]


@pytest.fixture
def prints() -> list[tuple[str, AudioPrint]]:
    return [(f"{i:064x}", p) for i, (_, p) in enumerate(generated(6, 300.0, seed=4))]


@pytest.fixture
def queries(prints: list[tuple[str, AudioPrint]]) -> list[AudioPrint]:
    rng = np.random.default_rng(9)
    return [excerpt(p, 40.0 + 7 * i, 10.0, rng) for i, (_, p) in enumerate(prints)]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path}/phiwall.db")


def no_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> AudioSegment:
        raise AssertionError("audio segment rebuilt from the store")

    monkeypatch.setattr(AudioSegment, "build", classmethod(refuse))
    monkeypatch.setattr(AudioSegment, "merged", classmethod(refuse))


def files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "phiwall.db.media-index").glob("audio-*.seg"))


def test_restart_maps_saved_segments_and_answers_the_same(
    tmp_path: Path,
    store: Store,
    prints: list[tuple[str, AudioPrint]],
    queries: list[AudioPrint],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enrol(store, prints)
    first = MediaService(store)
    expected = answers(first, queries)
    assert [a[0][0] for a in expected] == [a for a, _ in prints]
    saved = files(tmp_path)
    assert saved
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in saved)
    assert stat.S_IMODE(saved[0].parent.stat().st_mode) == 0o700
    no_rebuild(monkeypatch)
    again = MediaService(store)
    assert answers(again, queries) == expected
    assert set(again.index.state.assets) == {a for a, _ in prints}
    assert all(s.lm.packed is None or isinstance(s.lm.packed.words, np.memmap) for s in again.index.state.audio)


def test_enrolments_after_restart_are_saved_and_merged_files_removed(
    tmp_path: Path, store: Store, prints: list[tuple[str, AudioPrint]], queries: list[AudioPrint]
) -> None:
    enrol(store, prints[:3])
    MediaService(store)
    enrol(store, prints[3:])
    service = MediaService(store)  # restores 3 assets, builds and saves the other 3
    expected = answers(service, queries)
    covered = [a for f in files(tmp_path) for a, _ in segfile.read_header(f).assets]
    assert sorted(covered) == sorted(a for a, _ in prints)  # no stale file left
    assert answers(MediaService(store), queries) == expected


def test_forgotten_asset_is_masked_after_restart(
    store: Store, prints: list[tuple[str, AudioPrint]], queries: list[AudioPrint], monkeypatch: pytest.MonkeyPatch
) -> None:
    enrol(store, prints)
    MediaService(store)
    gone = prints[2][0]
    repository.forget(store, gone)
    no_rebuild(monkeypatch)
    service = MediaService(store)
    assert gone not in service.index.state.assets
    assert all(c[0] != gone for found in answers(service, queries) for c in found)


def test_changed_store_invalidates_the_file(
    tmp_path: Path, store: Store, prints: list[tuple[str, AudioPrint]], queries: list[AudioPrint]
) -> None:
    enrol(store, prints)
    expected = answers(MediaService(store), queries)
    # The same asset id with other prints (another algorithm version, or a store replaced
    # under the same name): the file must not answer for it.
    other = generated(1, 300.0, seed=77)[0][1]
    repository.forget(store, prints[0][0])
    enrol(store, [(prints[0][0], other)])
    service = MediaService(store)
    found = answers(service, queries)
    assert [f[0] for f in found[1:]] == [e[0] for e in expected[1:]]  # the others: as before
    assert not found[0] or found[0][0][2] < expected[0][0][2] / 4  # the old print is not answered
    covered = [a for f in files(tmp_path) for a, _ in segfile.read_header(f).assets]
    assert sorted(covered) == sorted(a for a, _ in prints)


@pytest.mark.parametrize("where", ["manifest", "arrays", "truncated"])
def test_corrupt_file_is_detected_and_rebuilt(
    tmp_path: Path,
    store: Store,
    prints: list[tuple[str, AudioPrint]],
    queries: list[AudioPrint],
    where: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    enrol(store, prints)
    expected = answers(MediaService(store), queries)
    (path,) = files(tmp_path)
    data = bytearray(path.read_bytes())
    if where == "truncated":
        data = data[: len(data) // 2]
    else:
        at = 40 if where == "manifest" else len(data) - 5000
        data[at] ^= 0x55
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="agent.media.segfile"):
        service = MediaService(store)
    assert "discarded" in caplog.text
    assert answers(service, queries) == expected
    (rewritten,) = files(tmp_path)
    assert segfile.load(segfile.read_header(rewritten), np.ones(len(prints), dtype=bool)).size > 0


def test_unwritable_directory_keeps_the_index_in_memory(
    tmp_path: Path, store: Store, prints: list[tuple[str, AudioPrint]], queries: list[AudioPrint]
) -> None:
    (tmp_path / "phiwall.db.media-index").write_bytes(b"")  # a file where the directory goes
    enrol(store, prints)
    service = MediaService(store)
    assert [a[0][0] for a in answers(service, queries)] == [a for a, _ in prints]
