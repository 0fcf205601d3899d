"""What PhiWall believes about a host from the verdicts of its recent requests: pure arithmetic.

Decisive classifier verdicts are votes, decayed geometrically so the last few dozen requests
dominate (a host that changes what it serves is re-judged). A host is `ai` only when the
votes agree (or one very strong vote stands uncontradicted); a host that flips between
AI-like and ordinary requests, or has been seen too little, stays `unknown`: we say so
rather than guess. No store, no threads: the recorder (agent.shadow.discovery) keeps one
tally per host and writes what it concludes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from agent.shadow.classifier import ShapeVerdict

Belief = Literal["ai", "not_ai", "unknown"]
MAX_HOST_CHARS = 255


@dataclass(frozen=True)
class DiscoverySettings:
    max_hosts: int = 4096
    decay: float = 0.97  # per decisive vote: the belief follows roughly the last 30 verdicts
    ai_confidence: float = 0.7  # posterior mean of "AI" needed to call a host AI
    not_ai_confidence: float = 0.3
    min_votes: float = 1.5  # decayed votes needed (two recent ones), unless one vote is very strong
    strong_score: float = 0.98
    max_names: int = 16  # users and processes remembered per host
    flush_interval_s: float = 5.0
    status_event_cooldown_s: float = 3600.0
    batch_hosts: int = 500


@dataclass(frozen=True)
class HostBelief:
    host: str
    status: Belief
    confidence: float  # posterior mean probability that the host serves an AI API
    requests: int


@dataclass
class VoteTally:
    """A host's decayed votes and the status they support."""

    ai_votes: float = 0.0
    other_votes: float = 0.0
    strongest: float = 0.0
    status: Belief = "unknown"
    ever_ai: bool = False

    @property
    def confidence(self) -> float:
        # Jeffreys prior (Beta(1/2, 1/2)) over decayed votes: no evidence is 0.5, "don't know".
        return (self.ai_votes + 0.5) / (self.ai_votes + self.other_votes + 1.0)


def normalise_host(host: str) -> str:
    return host.strip().rstrip(".").lower()[:MAX_HOST_CHARS]


def vote(
    state: VoteTally,
    score: float | ShapeVerdict | None,
    settings: DiscoverySettings,
    threshold: float,
    low_threshold: float,
) -> None:
    """Fold one request's verdict into the host's decayed vote counts and re-judge it."""
    if score is None:
        return
    if isinstance(score, ShapeVerdict):
        label: Belief = score.label
        probability = score.score
    else:
        probability = float(score)
        if probability != probability:  # NaN: no opinion
            return
        if probability >= threshold:
            label = "ai"
        elif probability <= low_threshold:
            label = "not_ai"
        else:
            label = "unknown"
    if label == "unknown":
        return
    decay = settings.decay
    state.ai_votes *= decay
    state.other_votes *= decay
    if label == "ai":
        state.ai_votes += 1.0
        state.strongest = max(state.strongest * decay, probability)
    else:
        state.other_votes += 1.0
        state.strongest *= decay
    state.status = judge(state, settings)
    if state.status == "ai":
        state.ever_ai = True


def judge(state: VoteTally, settings: DiscoverySettings) -> Belief:
    """`ai` on agreeing votes (or one very strong, uncontradicted one), `not_ai` likewise, else unknown."""
    votes = state.ai_votes + state.other_votes
    confidence = state.confidence
    if state.ai_votes >= settings.min_votes and confidence >= settings.ai_confidence:
        return "ai"
    if state.other_votes < 0.5 and state.strongest >= settings.strong_score:
        return "ai"
    if votes >= settings.min_votes and confidence <= settings.not_ai_confidence:
        return "not_ai"
    return "unknown"


def belief_after(verdicts: Iterable[ShapeVerdict], settings: DiscoverySettings | None = None) -> HostBelief:
    """The belief a recorder would hold about a host after these verdicts (evaluation, tests)."""
    chosen = settings or DiscoverySettings()
    state = VoteTally()
    requests = 0
    for verdict in verdicts:
        requests += 1
        vote(state, verdict, chosen, 1.0, 0.0)
    return HostBelief("", state.status, state.confidence, requests)
