"""Bounded Content-Encoding decoding (gzip, deflate, br, zstd), with bomb detection.

mitmproxy's `.content` decodes without a size bound; a 10 KB gzip bomb would expand to
gigabytes in the proxy. Here every decoder is driven incrementally with an output ceiling,
and a body whose decoded size would pass `max_bytes` (or whose ratio is absurd) raises
`PayloadError` before the memory is spent.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

import brotli  # type: ignore[import-untyped]
import zstandard

from agent.proxy.extract.types import ExtractLimits, PayloadError

_CHUNK = 1 << 20
IDENTITY = {"", "identity", "none"}


def _limit_for(encoded: bytes, limits: ExtractLimits) -> int:
    return min(limits.max_bytes, max(len(encoded), 1) * limits.max_compression_ratio)


def _too_big(name: str, encoded: bytes, limit: int, limits: ExtractLimits) -> PayloadError:
    if limit < limits.max_bytes:
        return PayloadError(
            f"{name} body expands more than {limits.max_compression_ratio}x ({len(encoded)} bytes encoded):"
            " decompression bomb"
        )
    return PayloadError(f"{name} body decodes to more than {limits.max_bytes >> 20} MB: too large to inspect")


def _zlib_decode(data: bytes, wbits: int, name: str, limits: ExtractLimits) -> bytes:
    limit = _limit_for(data, limits)
    out = bytearray()
    decoder = zlib.decompressobj(wbits)
    pending = data
    try:
        while pending or not decoder.eof:
            chunk = decoder.decompress(pending, _CHUNK)
            out += chunk
            if len(out) > limit:
                raise _too_big(name, data, limit, limits)
            pending = decoder.unconsumed_tail
            if not chunk and not pending:
                break
            if decoder.eof and decoder.unused_data:
                # Concatenated gzip members are legal; decode the next one.
                pending = decoder.unused_data
                decoder = zlib.decompressobj(wbits)
    except zlib.error as exc:
        raise PayloadError(f"{name} body is corrupt: {exc}") from None
    if not decoder.eof:
        raise PayloadError(f"{name} body is truncated")
    return bytes(out)


def _gzip(data: bytes, limits: ExtractLimits) -> bytes:
    return _zlib_decode(data, 16 + zlib.MAX_WBITS, "gzip", limits)


def _deflate(data: bytes, limits: ExtractLimits) -> bytes:
    # "deflate" is meant to be zlib-wrapped, but many clients send raw deflate: accept both.
    try:
        return _zlib_decode(data, zlib.MAX_WBITS, "deflate", limits)
    except PayloadError as exc:
        if "corrupt" not in str(exc):
            raise
        return _zlib_decode(data, -zlib.MAX_WBITS, "deflate", limits)


def _brotli(data: bytes, limits: ExtractLimits) -> bytes:
    limit = _limit_for(data, limits)
    decoder = brotli.Decompressor()
    out = bytearray()
    try:
        out += decoder.process(data, output_buffer_limit=_CHUNK)
        while not decoder.is_finished() and not decoder.can_accept_more_data():
            if len(out) > limit:
                raise _too_big("br", data, limit, limits)
            out += decoder.process(b"", output_buffer_limit=_CHUNK)
    except brotli.error as exc:
        raise PayloadError(f"br body is corrupt: {exc}") from None
    if len(out) > limit:
        raise _too_big("br", data, limit, limits)
    if not decoder.is_finished():
        raise PayloadError("br body is truncated")
    return bytes(out)


def _zstd(data: bytes, limits: ExtractLimits) -> bytes:
    limit = _limit_for(data, limits)
    out = bytearray()
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
        with reader:
            while True:
                chunk = reader.read(_CHUNK)
                if not chunk:
                    break
                out += chunk
                if len(out) > limit:
                    raise _too_big("zstd", data, limit, limits)
    except zstandard.ZstdError as exc:
        raise PayloadError(f"zstd body is corrupt: {exc}") from None
    return bytes(out)


DECODERS: dict[str, Callable[[bytes, ExtractLimits], bytes]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
}


def decode_content(data: bytes, content_encoding: str | None, limits: ExtractLimits) -> bytes:
    """Undo `Content-Encoding` (applied left to right, so undone right to left), within `limits`."""
    if not content_encoding:
        return data
    layers = [token.strip().lower() for token in content_encoding.split(",")]
    layers = [token for token in layers if token not in IDENTITY]
    if len(layers) > limits.max_encoding_layers:
        raise PayloadError(f"{len(layers)} content encodings stacked: refusing more than {limits.max_encoding_layers}")
    for name in reversed(layers):
        decoder = DECODERS.get(name)
        if decoder is None:
            raise PayloadError(f"unsupported content encoding {name!r}")
        data = decoder(data, limits)
    return data
