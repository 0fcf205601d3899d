"""Choosing between enrolled videos the pictures alone barely tell apart.

Videos made from one picture source (a screen-recording template, a test pattern, the same
clip with another colour grade, or the same pictures under another sound track) give a
silent, turned or captioned query nearly the same pHash evidence on each of them: the
ranking by agreeing frames then names whichever came first. Among the accepted candidates
whose pHash evidence is close to the best one's, colour decides (a hue change is all that
separates graded siblings); when colour ties too, the asset whose length the query spans
best (a whole-file upload is the whole asset, not the start of a longer one). An excerpt
that reaches none of their ends is not named: a guess between them is a wrong-asset match
half the time. It is still enrolled clinical media, whichever it is, so it is answered as
one of them with the others as alternatives (`Chosen.alternatives`): the proxy blocks it and
the analyst sees every asset it may be.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.media.frame_index import FrameCandidate

CLOSE_AGREE = 0.8  # a sibling has at least this share of the best candidate's agreeing frames
CLOSE_DISTANCE = 1.5  # and a mean Hamming distance at most this much larger
COLOUR_MARGIN = 0.002  # colour agreements closer than this are a tie
LENGTH_MATCH_S = 1.0  # a query spanning an asset to within this of its end is that whole asset


@dataclass(frozen=True)
class Scored:
    candidate: FrameCandidate
    score: float
    duration_s: float  # the enrolled asset's length


@dataclass(frozen=True)
class Chosen:
    """The candidate the query shows; when the pictures cannot tell it from other accepted
    assets, those (`alternatives`, asset ids) are equally likely and `best` is only the first
    of them by evidence."""

    best: Scored
    alternatives: tuple[str, ...] = ()


def choose(accepted: Sequence[Scored], query_span_s: float) -> Chosen | None:
    """The accepted candidate the query most likely shows (None when none was accepted).
    `query_span_s`: how long the query video lasts (0 for a still picture: no length tie-break)."""
    if not accepted:
        return None
    lead = max(accepted, key=_evidence)
    close = [
        s
        for s in accepted
        if s.candidate.agree >= CLOSE_AGREE * lead.candidate.agree
        and s.candidate.mean_distance <= lead.candidate.mean_distance + CLOSE_DISTANCE
    ]
    if len(close) < 2:
        return Chosen(lead)
    best_colour = max(s.candidate.chroma for s in close)
    close = [s for s in close if s.candidate.chroma >= best_colour - COLOUR_MARGIN]
    # A still image proposes several frames of one asset: only other assets are rivals.
    best_of: dict[str, Scored] = {}
    for s in sorted(close, key=lambda s: -s.score):
        best_of.setdefault(s.candidate.asset_id, s)
    close = list(best_of.values())
    if len(close) < 2:
        return Chosen(close[0])
    if query_span_s <= 0.0:
        return Chosen(max(close, key=lambda s: s.score))

    def coverage_gap(s: Scored) -> float:
        """Enrolled time the query does not span, from where it starts."""
        return abs(s.duration_s - s.candidate.offset_s - query_span_s)

    # A sibling the query would run past the end of (from where it starts) cannot be it.
    possible = [s for s in close if s.duration_s - s.candidate.offset_s + LENGTH_MATCH_S >= query_span_s]
    if len(possible) == 1:
        return Chosen(possible[0])
    # A query that reaches an end names the sibling whose length it spans best. An excerpt
    # that spans none of them to its end is not named: the nearer length would be a
    # wrong-asset match about half the time (a 12 s captioned excerpt of one of two
    # pixel-identical clips in the public suite was named as the other).
    if possible and min(coverage_gap(s) for s in possible) <= LENGTH_MATCH_S:
        return Chosen(min(possible, key=lambda s: (coverage_gap(s), -s.score)))
    undecided = sorted(possible or close, key=_evidence, reverse=True)
    return Chosen(undecided[0], tuple(s.candidate.asset_id for s in undecided[1:]))


def _evidence(s: Scored) -> tuple[float, int, float]:
    return (s.score, s.candidate.agree, -s.candidate.mean_distance)
