"""Payload extraction: request bodies to candidate media parts, bounded, without mitmproxy.

Pure functions over bytes so they can be tested alone and run in worker threads.
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
