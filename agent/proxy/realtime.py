"""Realtime audio over WebSockets: decode the audio events and keep a rolling PCM window.

Realtime voice APIs stream headerless PCM in base64 inside JSON events (OpenAI Realtime
`input_audio_buffer.append`, Gemini Live `realtimeInput.audio` / `mediaChunks`) or as binary
frames (raw PCM, or a MediaRecorder container stream). There is no file to sniff, so the
format comes from the protocol: the session configuration (`session.update`), the declared
`mimeType` (`audio/pcm;rate=16000`), URL parameters, or the catalog's default.

`RealtimeAudio` is per WebSocket: `feed()` parses one client message and appends its audio
(converted to s16le mono at the stream's rate) to a window of the last `window_s` seconds;
`due()` says when enough new audio arrived to fingerprint the window again. Media files inside
messages (images, whole clips) are returned as parts for ordinary matching. Nothing here
touches mitmproxy or the fingerprinting, so the proxy runs the matching off its event loop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from agent.payload.jsonmedia import walk_json
from agent.payload.textmedia import MediaProbe, b64decode, pcm_format_for
from agent.payload.types import Extraction, ExtractLimits, PayloadError, PayloadPart, PcmFormat

PLAUSIBLE_RATES: tuple[int, ...] = (16_000, 24_000, 48_000, 44_100, 8_000, 22_050)
"""Rates realtime clients really send, most common first: tried when the declared one does not match."""
OPENAI_FORMATS: dict[str, str] = {"pcm16": "s16le", "g711_ulaw": "mulaw", "g711_alaw": "alaw"}
OPENAI_GA_FORMATS: dict[str, str] = {"audio/pcm": "s16le", "audio/pcmu": "mulaw", "audio/pcma": "alaw"}


def _ulaw_table() -> np.ndarray[Any, np.dtype[np.int16]]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray[Any, np.dtype[np.int16]]:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


ULAW = _ulaw_table()
ALAW = _alaw_table()


def to_s16_mono(data: bytes, fmt: PcmFormat) -> bytes:
    """Any supported headerless format to s16le mono at the same rate."""
    if fmt.sample_format == "mulaw":
        samples = ULAW[np.frombuffer(data, dtype=np.uint8)]
    elif fmt.sample_format == "alaw":
        samples = ALAW[np.frombuffer(data, dtype=np.uint8)]
    elif fmt.sample_format == "f32le":
        usable = len(data) - len(data) % 4
        floats = np.frombuffer(data[:usable], dtype="<f4")
        samples = (np.clip(np.nan_to_num(floats), -1.0, 1.0) * 32767).astype(np.int16)
    else:
        usable = len(data) - len(data) % 2
        samples = np.frombuffer(data[:usable], dtype="<i2")
    if fmt.channels > 1:
        usable = len(samples) - len(samples) % fmt.channels
        samples = samples[:usable].reshape(-1, fmt.channels).mean(axis=1).astype(np.int16)
    return samples.astype("<i2", copy=False).tobytes()


@dataclass
class Feed:
    """What one message contained."""

    audio_bytes: int = 0
    """s16le bytes appended to the window."""
    parts: list[PayloadPart] = field(default_factory=list)
    """Media files inside the message (whole clips, images), to match on their own."""
    error: str | None = None
    """An audio event that could not be decoded: the message should not pass unseen."""
    config: bool = False


def format_from_url(query: str, default: PcmFormat) -> PcmFormat:
    """Deepgram/AssemblyAI-style `?encoding=linear16&sample_rate=16000` parameters, else `default`."""
    params = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
    rate_text = params.get("sample_rate") or params.get("samplerate") or params.get("rate") or ""
    rate = int(rate_text) if rate_text.isdigit() and 4000 <= int(rate_text) <= 192_000 else default.sample_rate
    encoding = params.get("encoding", "").lower()
    sample_format = {"linear16": "s16le", "pcm_s16le": "s16le", "mulaw": "mulaw", "pcm_mulaw": "mulaw"}.get(
        encoding, default.sample_format
    )
    channels_text = params.get("channels", "")
    channels = int(channels_text) if channels_text.isdigit() and 1 <= int(channels_text) <= 8 else default.channels
    return PcmFormat(sample_rate=rate, channels=channels, sample_format=sample_format)


def alternate_rates(declared: int, rates: tuple[int, ...] = PLAUSIBLE_RATES) -> list[int]:
    """The other plausible sample rates for a window whose declared rate may be a lie.

    The samples are the same bytes whatever the rate: read at another rate they are the same
    sound, faster or slower, so a 16 kHz recording sent as "24 kHz" is only recognised when read
    at 16 kHz. Each alternative costs one more fingerprint of the window.
    """
    return [rate for rate in rates if rate != declared]


class RealtimeAudio:
    """Per-WebSocket audio state: current format, a rolling window, a container buffer."""

    def __init__(
        self,
        default: PcmFormat,
        probe: MediaProbe,
        *,
        window_s: float = 10.0,
        check_every_s: float = 2.5,
        min_window_s: float = 3.0,
        max_container_bytes: int = 32 << 20,
        limits: ExtractLimits | None = None,
    ) -> None:
        self.format = default
        self.probe = probe
        self.window_s = window_s
        self.check_every_s = check_every_s
        self.min_window_s = min_window_s
        self.max_container_bytes = max_container_bytes
        self.limits = limits or ExtractLimits(max_parts=16)
        self._window = bytearray()
        self._since_check = 0
        self.total_audio_s = 0.0
        self.container = bytearray()
        self.container_mode: bool | None = None
        self.container_overflow = False
        self._container_since_check = 0
        self.messages = 0
        self.errors = 0
        self._rate_turn = 0

    # --- the window -------------------------------------------------------------------

    @property
    def bytes_per_second(self) -> int:
        return self.format.sample_rate * 2

    def _append(self, pcm: bytes) -> int:
        self._window += pcm
        self._since_check += len(pcm)
        self.total_audio_s += len(pcm) / self.bytes_per_second
        keep = int(self.window_s * self.bytes_per_second)
        if len(self._window) > 2 * keep:
            del self._window[: len(self._window) - keep]
        return len(pcm)

    def _set_format(self, fmt: PcmFormat) -> None:
        if fmt != self.format:
            self.format = fmt
            self._window.clear()  # samples at another rate cannot share a window
            self._since_check = 0

    def due(self) -> bool:
        """Enough new audio since the last check, and enough audio in the window to recognise."""
        bps = self.bytes_per_second
        enough_new = self._since_check >= self.check_every_s * bps
        return enough_new and len(self._window) >= self.min_window_s * bps

    def take_window(self) -> tuple[bytes, int]:
        """The last `window_s` seconds as s16le mono, and its sample rate; resets the check clock."""
        keep = int(self.window_s * self.bytes_per_second)
        self._since_check = 0
        return bytes(self._window[-keep:]), self.format.sample_rate

    def next_alternate_rates(self, count: int) -> list[int]:
        """The next `count` other plausible rates, taken in turn over successive checks.

        Bounds what a lying (or merely unmatched) stream costs: `count` more fingerprints per
        check instead of five, every rate still tried within a few checks, most likely first.
        """
        others = alternate_rates(self.format.sample_rate)
        if count >= len(others):
            return others
        picked = [others[(self._rate_turn + i) % len(others)] for i in range(max(0, count))]
        self._rate_turn = (self._rate_turn + len(picked)) % len(others)
        return picked

    def container_due(self) -> bool:
        return self._container_since_check >= max(64 << 10, self.check_every_s * 16_000)

    def take_container(self) -> bytes:
        self._container_since_check = 0
        return bytes(self.container)

    # --- messages ---------------------------------------------------------------------

    def feed(self, content: bytes, is_text: bool) -> Feed:
        self.messages += 1
        if is_text:
            return self._feed_text(content)
        return self._feed_binary(content)

    def _feed_binary(self, content: bytes) -> Feed:
        if self.container_mode is None:
            self.container_mode = self.probe(content[:4096])
        if self.container_mode:
            if len(self.container) + len(content) > self.max_container_bytes:
                self.container_overflow = True
                return Feed()
            self.container += content
            self._container_since_check += len(content)
            return Feed()
        return Feed(audio_bytes=self._append(to_s16_mono(content, self.format)))

    def _feed_text(self, content: bytes) -> Feed:
        try:
            message = json.loads(content)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return Feed()  # not JSON: carries no audio we know how to read
        if not isinstance(message, dict):
            return Feed()
        kind = message.get("type")
        try:
            if kind in ("session.update", "transcription_session.update"):
                self._openai_session(message.get("session"))
                return Feed(config=True)
            if kind == "input_audio_buffer.append":
                return self._openai_append(message.get("audio"))
            for key in ("realtimeInput", "realtime_input"):
                if isinstance(message.get(key), dict):
                    return self._gemini_input(message[key])
            return self._generic(message, kind)
        except PayloadError as exc:
            self.errors += 1
            return Feed(error=str(exc))

    def _openai_session(self, session: object) -> None:
        if not isinstance(session, Mapping):
            return
        name = session.get("input_audio_format")
        if isinstance(name, str) and name in OPENAI_FORMATS:
            rate = 8000 if name.startswith("g711") else 24000
            self._set_format(PcmFormat(rate, 1, OPENAI_FORMATS[name]))
            return
        audio = session.get("audio")
        fmt = audio.get("input", {}).get("format") if isinstance(audio, Mapping) else None
        if isinstance(fmt, Mapping) and isinstance(fmt.get("type"), str) and fmt["type"] in OPENAI_GA_FORMATS:
            sample_format = OPENAI_GA_FORMATS[fmt["type"]]
            default_rate = 24000 if sample_format == "s16le" else 8000
            declared_rate = fmt.get("rate")
            rate = declared_rate if isinstance(declared_rate, int) and declared_rate > 0 else default_rate
            self._set_format(PcmFormat(rate, 1, sample_format))

    def _openai_append(self, audio: object) -> Feed:
        if not isinstance(audio, str):
            raise PayloadError("input_audio_buffer.append without a base64 `audio` string")
        return Feed(audio_bytes=self._append(to_s16_mono(b64decode(audio), self.format)))

    def _gemini_input(self, payload: Mapping[str, Any]) -> Feed:
        chunks: list[object] = []
        for key in ("mediaChunks", "media_chunks"):
            if isinstance(payload.get(key), list):
                chunks.extend(payload[key])
        if isinstance(payload.get("audio"), Mapping):
            chunks.append(payload["audio"])
        feed = Feed()
        for chunk in chunks:
            if not isinstance(chunk, Mapping):
                continue
            mime = chunk.get("mimeType") or chunk.get("mime_type")
            data = chunk.get("data")
            if not isinstance(data, str):
                continue
            pcm = pcm_format_for(mime if isinstance(mime, str) else None)
            if pcm is not None:
                self._set_format(PcmFormat(pcm.sample_rate, pcm.channels, "s16le"))
                feed.audio_bytes += self._append(to_s16_mono(b64decode(data), self.format))
            else:
                raw = b64decode(data)
                if self.probe(raw[:4096]):
                    feed.parts.append(PayloadPart("ws:realtimeInput", raw, mime if isinstance(mime, str) else None))
        return feed

    def _generic(self, message: dict[str, Any], kind: object) -> Feed:
        """Any other message: media files or declared PCM anywhere inside (clips, images)."""
        extraction = Extraction()
        walk_json(message, extraction, self.limits, self.probe, root=f"ws:{kind}" if isinstance(kind, str) else "ws")
        feed = Feed()
        for part in extraction.parts:
            if part.pcm is not None:
                self._set_format(PcmFormat(part.pcm.sample_rate, part.pcm.channels, "s16le"))
                feed.audio_bytes += self._append(to_s16_mono(bytes(part.data), self.format))
            else:
                feed.parts.append(part)
        if kind == "conversation.item.create":
            feed.parts.extend(self._openai_item_audio(message.get("item")))
        if extraction.errors:
            self.errors += 1
            feed.error = extraction.errors[0]
        return feed

    def _openai_item_audio(self, item: object) -> list[PayloadPart]:
        """`conversation.item.create` with `input_audio` content: a whole clip, matched on its own."""
        if not isinstance(item, Mapping) or not isinstance(item.get("content"), list):
            return []
        clip_format = PcmFormat(self.format.sample_rate, 1, "s16le")
        parts = []
        for index, content in enumerate(item["content"]):
            if isinstance(content, Mapping) and content.get("type") == "input_audio":
                audio = content.get("audio")
                if isinstance(audio, str):
                    pcm = to_s16_mono(b64decode(audio), self.format)
                    parts.append(
                        PayloadPart(f"ws:conversation.item.create.item.content[{index}].audio", pcm, None, clip_format)
                    )
        return parts
