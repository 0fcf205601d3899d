"""The warp gate: an upload of unrelated speech, played faster, stops at the gate without a
single hypothesis being searched in full; the enrolled dictation played faster passes it and
matches."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent.media import warp
from agent.media.fingerprint import AudioPrint
from agent.media.service import MediaService
from tests.support.media import OTHER_SPEECH

from .conftest import Clinic


@pytest.fixture
def searched(monkeypatch: pytest.MonkeyPatch) -> list[warp.Hypothesis]:
    """Hypotheses read in full (`warp.warped_print`), recorded around the real function."""
    seen: list[warp.Hypothesis] = []
    real: Callable[..., AudioPrint] = warp.warped_print

    def spy(x: warp.F32Array, h: warp.Hypothesis) -> AudioPrint:
        seen.append(h)
        return real(x, h)

    monkeypatch.setattr(warp, "warped_print", spy)
    return seen


def test_gate_is_on() -> None:
    assert MediaService.warp_gate > 0


def test_unrelated_speech_stops_at_the_gate(clinic: Clinic, searched: list[warp.Hypothesis]) -> None:
    other = clinic.factory.speech(OTHER_SPEECH[0], voice="en-gb", speed=150)
    fast = clinic.factory.encode(other, ".mp3", "-af", "atempo=1.5", "-b:a", "64k")
    outcome = clinic.service.match_path(fast)
    assert outcome.match is None
    assert searched == []


def test_enrolled_dictation_played_faster_passes_the_gate(clinic: Clinic, searched: list[warp.Hypothesis]) -> None:
    fast = clinic.factory.encode(clinic.dictation_wavs[0], ".mp3", "-af", "atempo=1.5", "-b:a", "64k")
    outcome = clinic.service.match_path(fast)
    assert outcome.match is not None
    assert outcome.match.asset_id == clinic.asset_of(clinic.dictations[0])
    assert searched
