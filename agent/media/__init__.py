"""Clinical media recognition: sniffing, bounded decoding, audio and picture fingerprints,
the match index, and the in-process API the proxy, the watcher and the CLI use.

    service = MediaService(store, agent_id=...)      # loads the index from the store
    outcome = service.match_bytes(body)              # MatchOutcome(match | None, mime, kind, error, ms)
    service.enroll_path(Path("/srv/dictations/a.m4a"))

See docs/detection.md for the algorithms, print formats, thresholds and measured figures.
"""

from agent.media.model import EnrollOutcome, MatchOutcome, MediaLimits, MediaMatch, Sniffed
from agent.media.service import MediaService
from agent.media.sniff import looks_like_media, sniff_bytes, sniff_path

__all__ = [
    "EnrollOutcome",
    "MatchOutcome",
    "MediaLimits",
    "MediaMatch",
    "MediaService",
    "Sniffed",
    "looks_like_media",
    "sniff_bytes",
    "sniff_path",
]
