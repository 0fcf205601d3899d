"""The calibrated decision: features of a candidate -> score in 0..1 -> match or not.

The weights and thresholds are data (`calibration.json`, written by
`benchmarks/media_calibrate.py` from PhiWall's own generated corpus): a logistic regression
per evidence kind (audio, video frames, still image) on standardised features, and a
threshold on its probability chosen for a target false-match rate on hard negatives.

Audio has a second model, `voice`, fitted on real human speech under music and babble
(the calibration split of `benchmarks/media_mixtures.py`): there a true excerpt keeps few
landmark pairs but its Chromaprint items still agree far beyond chance, which the first
model (fitted on synthetic speech, where votes abound) does not weigh. A candidate is a
match when either model accepts it; each threshold is set above every negative its fit saw.
Prediction is plain numpy; scikit-learn is needed only to calibrate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from agent.errors import MediaError
from agent.media.audio_index import AudioCandidate
from agent.media.frame_index import FrameCandidate

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
VOICE_MIN_ITEMS = 40  # the voice model judges only candidates with this many aligned Chromaprint items (~5 s)
# ... on a line within this of the recording's own speed. The voice model was fitted on mixtures
# at unchanged speed; a tempo-changed line with Chromaprint agreement is what one synthetic
# voice reading shared template phrases at another rate looks like (slope 1.045, 11 votes: a
# false match in the public real-life suite). Speed changes have their own, first-model path.
VOICE_MAX_TEMPO_CHANGE = 0.01


def _chroma_evidence(c: AudioCandidate) -> float:
    """Chromaprint agreement scaled by how many items it rests on (0 = none or random)."""
    similarity = max(0.0, 0.5 - c.cp_ber) * 2.0
    return similarity * min(1.0, c.cp_overlap / 16.0)


AUDIO_FEATURES: dict[str, Callable[[AudioCandidate], float]] = {
    "log_votes": lambda c: math.log1p(c.lm_votes),
    "vote_rate": lambda c: c.lm_votes / max(1, c.lm_total),
    "coverage": lambda c: c.lm_coverage,
    "chroma": _chroma_evidence,
    "log_matched_s": lambda c: math.log1p(c.lm_coverage * c.query_s),
    "log_query_s": lambda c: math.log1p(c.query_s),
}


def _chroma_z(c: AudioCandidate) -> float:
    """Chromaprint agreement in units of its chance spread: (0.5 - BER) x sqrt(items), so 59
    and 221 aligned items are on one scale. In the calibration split, other speech reached at
    most ~1.0; true 10 s excerpts under 0 dB babble 0.6-1.6, clean ones 3-4."""
    return (0.5 - c.cp_ber) * math.sqrt(c.cp_overlap) if c.cp_overlap else 0.0


VOICE_FEATURES: dict[str, Callable[[AudioCandidate], float]] = {
    "log_votes": lambda c: math.log1p(c.lm_votes),
    "vote_rate": lambda c: c.lm_votes / max(1, c.lm_total),
    "coverage": lambda c: c.lm_coverage,
    "chroma_z": _chroma_z,
    "log_query_s": lambda c: math.log1p(c.query_s),
}
VIDEO_FEATURES: dict[str, Callable[[FrameCandidate], float]] = {
    "log_agree": lambda c: math.log1p(c.agree),
    "agree_rate": lambda c: c.agree / max(1, c.query_frames),
    "mean_distance": lambda c: c.mean_distance,
    "chroma": lambda c: c.chroma,
    "log_query_frames": lambda c: math.log1p(c.query_frames),
    "layout": lambda c: c.layout,
}
IMAGE_FEATURES: dict[str, Callable[[FrameCandidate], float]] = {
    "best_distance": lambda c: float(c.best_distance),
    "scale_distance": lambda c: c.mean_distance,
    "scales_close": lambda c: float(c.agree),
    "chroma": lambda c: c.chroma,
    "layout": lambda c: c.layout,
}
FEATURES: dict[str, Mapping[str, Callable[[Any], float]]] = {
    "audio": AUDIO_FEATURES,
    "voice": VOICE_FEATURES,
    "video": VIDEO_FEATURES,
    "image": IMAGE_FEATURES,
}


@dataclass(frozen=True)
class Model:
    """Standardise, weigh, squash: P(same recording | features)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    min_support: float  # below this raw support (votes, agreeing frames, close scales) never match

    def score(self, values: list[float]) -> float:
        z = self.intercept + sum(
            w * (v - m) / s for w, v, m, s in zip(self.coef, values, self.mean, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass(frozen=True)
class Calibration:
    audio: Model
    video: Model
    image: Model
    voice: Model | None  # real voices in mixtures (second audio model), None in older calibrations
    min_chroma: float
    conflict_min_landmarks: int  # a query sound track with fewer landmarks says nothing
    conflict_max_score: float  # the track contradicts an asset when its audio score is below
    source: dict[str, Any]

    def model(self, kind: str) -> Model:
        found = {"audio": self.audio, "voice": self.voice, "video": self.video, "image": self.image}[kind]
        if found is None:
            raise MediaError(f"calibration has no {kind} model")
        return found


def feature_vector(kind: str, candidate: AudioCandidate | FrameCandidate) -> list[float]:
    return [fn(candidate) for fn in FEATURES[kind].values()]


def _model(kind: str, raw: Mapping[str, Any]) -> Model:
    names = tuple(raw["features"])
    if names != tuple(FEATURES[kind]):
        raise MediaError(f"calibration for {kind} uses features {names}, this build computes {tuple(FEATURES[kind])}")
    return Model(
        features=names,
        mean=tuple(float(x) for x in raw["mean"]),
        scale=tuple(float(x) or 1.0 for x in raw["scale"]),
        coef=tuple(float(x) for x in raw["coef"]),
        intercept=float(raw["intercept"]),
        threshold=float(raw["threshold"]),
        min_support=float(raw.get("min_support", 0)),
    )


def parse_calibration(raw: Mapping[str, Any]) -> Calibration:
    try:
        return Calibration(
            audio=_model("audio", raw["audio"]),
            video=_model("video", raw["video"]),
            image=_model("image", raw["image"]),
            voice=_model("voice", raw["voice"]) if "voice" in raw else None,
            min_chroma=float(raw["frames"]["min_chroma"]),
            conflict_min_landmarks=int(raw["conflict"]["min_landmarks"]),
            conflict_max_score=float(raw["conflict"]["max_score"]),
            source=dict(raw.get("source", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MediaError(f"calibration data is incomplete: {exc}") from None


@cache
def load_calibration(path: Path = CALIBRATION_FILE) -> Calibration:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise MediaError(f"cannot read media calibration {path}: {exc}", hint="reinstall PhiWall") from None
    return parse_calibration(raw)


def support(kind: str, candidate: AudioCandidate | FrameCandidate) -> float:
    """The raw count a match must rest on, whatever the model says."""
    if isinstance(candidate, AudioCandidate):
        return float(candidate.lm_votes) + (candidate.cp_overlap if candidate.cp_ber < 0.2 else 0)
    return float(candidate.agree)


def decide(
    kind: str, candidate: AudioCandidate | FrameCandidate, calibration: Calibration, *, voice: bool = True
) -> tuple[float, bool]:
    """(score, is it a match) for one candidate. For audio, the voice model is asked when the
    first one rejects (unless `voice` is False: warp trials, a selected maximum of ~85 tries,
    were calibrated on the first model alone); an acceptance by it carries its own score."""
    model = calibration.model(kind)
    score = model.score(feature_vector(kind, candidate))
    if score >= model.threshold and support(kind, candidate) >= model.min_support:
        return score, True
    if kind == "audio" and voice and calibration.voice is not None and isinstance(candidate, AudioCandidate):
        second = calibration.voice
        voice_score = second.score(feature_vector("voice", candidate))
        enough = (
            candidate.cp_overlap >= VOICE_MIN_ITEMS
            and candidate.lm_votes >= second.min_support
            and abs(candidate.slope - 1.0) <= VOICE_MAX_TEMPO_CHANGE
        )
        if enough and voice_score >= second.threshold:
            return voice_score, True
    return score, False
