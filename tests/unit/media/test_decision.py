"""The shipped calibration is data the code can use, and scores move the right way."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from agent.errors import MediaError
from agent.media.audio_index import AudioCandidate
from agent.media.decision import CALIBRATION_FILE, FEATURES, decide, load_calibration, parse_calibration


def candidate(votes: int, coverage: float, ber: float = 0.5, overlap: int = 0) -> AudioCandidate:
    return AudioCandidate("x", 0.0, 1.0, votes, 400, coverage, ber, overlap, 10.0)


def test_shipped_calibration_matches_the_features_computed() -> None:
    raw = json.loads(CALIBRATION_FILE.read_text())
    cal = parse_calibration(raw)
    for kind in ("audio", "video", "image"):
        assert cal.model(kind).features == tuple(FEATURES[kind])
        assert 0.0 < cal.model(kind).threshold < 1.0
    assert "generated_by" in raw["source"] or "note" in raw["source"]


def test_audio_score_rises_with_aligned_evidence() -> None:
    cal = load_calibration()
    weak, _ = decide("audio", candidate(3, 0.1), cal)
    strong, matched = decide("audio", candidate(200, 1.0, ber=0.05, overlap=70), cal)
    assert weak < strong
    assert matched
    assert not decide("audio", candidate(3, 0.1), cal)[1]


def test_a_calibration_for_other_features_is_refused() -> None:
    raw = json.loads(CALIBRATION_FILE.read_text())
    raw["audio"]["features"] = ["votes_only"]
    with pytest.raises(MediaError, match="features"):
        parse_calibration(raw)


def test_the_shipped_calibration_has_a_voice_model_for_its_features() -> None:
    cal = load_calibration()
    assert cal.voice is not None
    assert cal.voice.features == tuple(FEATURES["voice"])


def test_chromaprint_agreement_rescues_a_noisy_excerpt_the_first_model_rejects() -> None:
    """A 10 s excerpt of a real voice under 0 dB babble: few landmark votes, but its
    Chromaprint items agree far beyond chance (BER 0.3 over 59 items)."""
    cal = load_calibration()
    noisy = AudioCandidate("x", 0.0, 1.0, 9, 450, 0.5, 0.30, 59, 10.0)
    first = cal.model("audio")
    assert first.score([f(noisy) for f in FEATURES["audio"].values()]) < first.threshold
    assert decide("audio", noisy, cal)[1]
    # Warp trials are decided by the first model alone.
    assert not decide("audio", noisy, cal, voice=False)[1]


def test_the_voice_model_needs_chromaprint_items_and_agreement() -> None:
    cal = load_calibration()
    chance = AudioCandidate("x", 0.0, 1.0, 9, 450, 0.5, 0.46, 59, 10.0)  # BER of unrelated speech
    short = AudioCandidate("x", 0.0, 1.0, 9, 90, 0.5, 0.30, 8, 2.0)  # too few items to judge
    assert not decide("audio", chance, cal)[1]
    assert not decide("audio", short, cal)[1]


def test_the_voice_model_judges_only_lines_at_the_recordings_own_speed() -> None:
    """Another synthetic recording in the same voice, reading shared template phrases 4.5 %
    faster, agrees with an enrolled dictation along a tempo-changed line (the public real-life
    suite's `other028 -> dictation007`); the voice model, fitted at unchanged speed, leaves it."""
    cal = load_calibration()
    faster = AudioCandidate("x", 101.8, 1.045, 11, 1498, 0.18, 0.342, 155, 33.2)
    same_speed = replace(faster, slope=1.0)
    assert decide("audio", same_speed, cal)[1], "the same evidence on the recording's own speed is a match"
    assert not decide("audio", faster, cal)[1]
    assert decide("audio", replace(faster, slope=1.005), cal)[1], "fit noise of a half per cent is tolerated"


def test_a_calibration_without_a_voice_model_still_loads() -> None:
    raw = json.loads(CALIBRATION_FILE.read_text())
    del raw["voice"]
    cal = parse_calibration(raw)
    assert cal.voice is None
    noisy = AudioCandidate("x", 0.0, 1.0, 9, 450, 0.5, 0.30, 59, 10.0)
    assert not decide("audio", noisy, cal)[1]


def _service_choice(candidates: list[AudioCandidate]) -> list[str]:
    """The assets `MediaService._audio_matches` names for these candidates (no index needed)."""
    from types import SimpleNamespace

    from agent.media.service import MediaService

    owner = SimpleNamespace(calibration=load_calibration(), _as_match=MediaService._as_match)
    state = SimpleNamespace(assets={})
    return [m.asset_id for m in MediaService._audio_matches(owner, state, candidates)]  # type: ignore[arg-type]


def test_the_voice_model_is_a_fallback_never_a_competitor() -> None:
    source = AudioCandidate("source", 0.0, 1.0, 200, 400, 1.0, 0.05, 70, 10.0)
    other = AudioCandidate("other", 0.0, 1.0, 9, 450, 0.5, 0.30, 59, 10.0)  # only the voice model takes it
    twin = AudioCandidate("twin", 0.0, 1.0, 9, 450, 0.5, 0.30, 59, 10.0)
    # The first model found the source: a voice-model acceptance of another asset is not named.
    assert _service_choice([source, other]) == ["source"]
    assert _service_choice([other, source]) == ["source"]
    # Alone, the voice model's one asset is named; two assets it cannot separate are refused.
    assert _service_choice([other]) == ["other"]
    assert _service_choice([other, twin]) == []
