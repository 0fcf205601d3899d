"""The shipped calibration is data the code can use, and scores move the right way."""

from __future__ import annotations

import json

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
