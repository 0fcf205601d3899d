"""How much of an unknown leaf to hold for the decoding probe.

Leaves no sniffer names (`Extraction.unknown`) are held until the proxy probes them by
decoding (`agent.media.probe`). Most large unknown leaves are incompressible data no decoder
reads: photos' and office files' compressed streams, encrypted blobs, random filler. Holding
each whole made a 100 MB ZIP of such entries cost its full size again in RSS.

The probe reads a leaf from a media marker or frame sync found in its first `MARKER_WINDOW`
bytes after a leading run of one byte value (zero padding), else as PCM when its first
`PCM_SAMPLE_BYTES` correlate like sampled sound; otherwise it stops, unread, whatever follows.
`probe_head` asks those same two questions here (the probe's own functions, so the answers
cannot drift apart) and, when both say no, keeps only the bytes the probe would ever look at:
the verdict on the leaf is the same (unreadable: failed closed for unapproved AI services, as
before) at a bounded cost per leaf. A leaf that may be read keeps all its bytes.
"""

from __future__ import annotations

HEAD_MARGIN = 64
"""Bytes kept past the probe's window (a frame header cut by the window's end)."""


def probe_head(data: bytes | memoryview) -> int | None:
    """The number of leading bytes of `data` the decoding probe can use, when it cannot use all."""
    # Imported here: the media stack is loaded by the proxy anyway, and never by the shadow
    # classifier, which reads structure only.
    from agent.media.probe import MARKER_WINDOW, PCM_SAMPLE_BYTES, find_markers, leading_run, pcm_layout

    run = leading_run(data)
    keep = run + max(MARKER_WINDOW, PCM_SAMPLE_BYTES) + HEAD_MARGIN
    if keep >= len(data):
        return None
    if find_markers(data) or pcm_layout(data) is not None:
        return None
    return keep
