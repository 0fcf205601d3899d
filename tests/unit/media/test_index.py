"""The in-memory index: segments merge without changing answers, forgetting removes an asset,
and readers see consistent snapshots while a writer adds assets."""

from __future__ import annotations

import threading

import numpy as np

from agent.media import landmarks
from agent.media.decode import AUDIO_RATE
from agent.media.fingerprint import AudioPrint
from agent.media.index import AssetInfo, MediaIndex, search_audio

from .conftest import babble


def audio_print(samples: np.ndarray) -> AudioPrint:
    hashes, times = landmarks.landmarks_of(samples)
    return AudioPrint(np.zeros(0, dtype=np.uint32), hashes, times, samples.size / AUDIO_RATE)


def info(asset_id: str) -> AssetInfo:
    return AssetInfo(asset_id, "audio", f"/clinic/{asset_id}.wav", 20.0, True, False)


def recordings(n: int) -> list[np.ndarray]:
    return [babble(20.0, seed=100 + i) for i in range(n)]


def test_one_by_one_equals_all_at_once() -> None:
    clips = recordings(9)
    one_by_one, at_once = MediaIndex(), MediaIndex()
    for i, clip in enumerate(clips):
        one_by_one.add([(info(f"a{i}"), audio_print(clip), None)])
    at_once.add([(info(f"a{i}"), audio_print(clip), None) for i, clip in enumerate(clips)])
    assert len(one_by_one.state.audio) < 9  # merged along the way
    assert len(at_once.state.audio) == 1
    query = audio_print(clips[6][5 * AUDIO_RATE : 10 * AUDIO_RATE])
    a = [(c.asset_id, c.lm_votes, round(c.offset_s, 2)) for c in search_audio(one_by_one.state, query)]
    b = [(c.asset_id, c.lm_votes, round(c.offset_s, 2)) for c in search_audio(at_once.state, query)]
    assert a[0] == b[0]
    assert a[0][0] == "a6"
    assert abs(a[0][2] - 5.0) < 0.1


def test_adding_twice_is_ignored_and_remove_forgets() -> None:
    clips = recordings(3)
    index = MediaIndex()
    assert index.add([(info(f"a{i}"), audio_print(c), None) for i, c in enumerate(clips)]) == 3
    assert index.add([(info("a1"), audio_print(clips[1]), None)]) == 0
    query = audio_print(clips[1][2 * AUDIO_RATE : 8 * AUDIO_RATE])
    assert search_audio(index.state, query)[0].asset_id == "a1"
    assert index.remove(["a1"]) == 1
    assert "a1" not in index
    assert all(c.asset_id != "a1" for c in search_audio(index.state, query))
    # A merge after forgetting drops the forgotten postings for good.
    for i in range(3, 12):
        index.add([(info(f"a{i}"), audio_print(babble(8.0, seed=i)), None)])
    assert all(c.asset_id != "a1" for c in search_audio(index.state, query))


def test_readers_never_see_a_half_built_state() -> None:
    clips = recordings(6)
    prints = [audio_print(c) for c in clips]
    index = MediaIndex()
    index.add([(info("a0"), prints[0], None)])
    query = audio_print(clips[0][3 * AUDIO_RATE : 9 * AUDIO_RATE])
    failures: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            state = index.state
            found = search_audio(state, query)
            if not found or found[0].asset_id != "a0":
                failures.append("lost a0")
            if any(c.asset_id not in state.assets for c in found):
                failures.append("candidate outside its snapshot")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(1, 6):
        index.add([(info(f"a{i}"), prints[i], None)])
    done.set()
    for t in threads:
        t.join()
    assert failures == []
    assert len(index.state.assets) == 6
