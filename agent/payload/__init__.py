"""The payload core: any request body to the media it carries, bounded, transport-free.

Pure functions over bytes (no mitmproxy, no Textual) so they can be tested alone, run in
worker threads, and serve both the proxy (`walker.extract_payload`) and the shadow-AI
classifier (`structure`: names, never values). See docs/proxy.md for every wrapper and bound.
"""

from agent.payload.textmedia import MediaProbe
from agent.payload.types import Extraction, ExtractLimits, PayloadError, PayloadPart, PcmFormat
from agent.payload.walker import extract_payload

__all__ = [
    "ExtractLimits",
    "Extraction",
    "MediaProbe",
    "PayloadError",
    "PayloadPart",
    "PcmFormat",
    "extract_payload",
]
