"""Payload extraction: request bodies to candidate media parts, bounded, without mitmproxy.

Pure functions over bytes so they can be tested alone and run in worker threads.
"""

from agent.proxy.extract.payload import extract_payload
from agent.proxy.extract.textmedia import MediaProbe
from agent.proxy.extract.types import Extraction, ExtractLimits, PayloadError, PayloadPart, PcmFormat

__all__ = [
    "ExtractLimits",
    "Extraction",
    "MediaProbe",
    "PayloadError",
    "PayloadPart",
    "PcmFormat",
    "extract_payload",
]
