"""Warp hypotheses: a sped-up or resampled excerpt is found under the hypothesis that undoes
its edit, and unrelated sound finds nothing under any hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from agent.media import warp
from agent.media.audio_index import AudioCandidate, AudioSegment
from agent.media.decode import AUDIO_RATE

from .conftest import babble
from .test_landmarks import as_print


@pytest.fixture(scope="module")
def segment() -> AudioSegment:
    return AudioSegment.build([("other", as_print(babble(60.0, seed=21))), ("source", as_print(babble(90.0, seed=5)))])


def _search(segment: AudioSegment, query: np.ndarray) -> tuple[warp.Hypothesis, AudioCandidate]:
    found = warp.search_hypotheses(query.astype(np.int16), segment.coarse_best, segment.search)
    assert found
    assert found[0][1]
    return found[0][0], found[0][1][0]


def test_grid_spans_the_families() -> None:
    grid = warp.coarse_grid()
    tempos = [1 / h.duration for h in grid if h.pitch == 1.0]
    pitches = [h.pitch for h in grid if h.duration == 1.0]
    speeds = [h.pitch for h in grid if h.pitch != 1.0 and abs(h.pitch * h.duration - 1.0) < 1e-9]
    assert min(tempos) <= 0.5
    assert max(tempos) >= 2.0
    assert min(speeds) <= 0.75
    assert max(speeds) >= 1.5
    assert min(pitches) <= 2 ** (-3 / 12)
    assert max(pitches) >= 2 ** (3 / 12)


def test_tempo_change_with_pitch_kept_is_undone(segment: AudioSegment) -> None:
    # The same babble said 1.5x faster (same pitches), 12 s from its 20th second.
    fast = babble(60.0, seed=5, tempo=1.5)[int(20 * AUDIO_RATE) : int(32 * AUDIO_RATE)]
    assert segment.search(as_print(fast))[0].lm_votes < 10  # unwarped: next to nothing
    hypothesis, best = _search(segment, fast)
    assert best.asset_id == "source"
    assert best.lm_votes >= 40
    assert hypothesis.pitch == 1.0
    assert abs(hypothesis.duration - 1 / 1.5) < 0.05


def test_resampled_speed_change_is_undone(segment: AudioSegment) -> None:
    original = babble(90.0, seed=5)[int(30 * AUDIO_RATE) : int(45 * AUDIO_RATE)].astype(np.float64)
    faster = resample_poly(original, 4, 5)  # played 1.25x faster: pitch and tempo x 1.25
    hypothesis, best = _search(segment, faster)
    assert best.asset_id == "source"
    assert best.lm_votes >= 40
    assert abs(hypothesis.pitch - 1.25) < 0.03
    assert abs(best.offset_s - 30.0) < 1.5


def test_unrelated_sound_finds_nothing(segment: AudioSegment) -> None:
    stranger = babble(15.0, seed=77)
    found = warp.search_hypotheses(stranger, segment.coarse_best, segment.search)
    votes = max((c.lm_votes for _, cands in found for c in cands), default=0)
    assert votes < 12
