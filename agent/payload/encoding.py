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

from agent.payload.types import ExtractLimits, PayloadError

_CHUNK = 1 << 20
INNER_BLOCK_BYTES = 256 << 10
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


def _zlib_decode(data: bytes, wbits: int, name: str, limits: ExtractLimits, prefix: int | None) -> bytes:
    limit = _limit_for(data, limits) if prefix is None else prefix  # a prefix is its own bound
    out = bytearray()
    decoder = zlib.decompressobj(wbits)
    pending = data
    try:
        while pending or not decoder.eof:
            chunk = decoder.decompress(pending, _CHUNK if prefix is None else max(1, prefix - len(out)))
            out += chunk
            if prefix is not None and len(out) >= prefix:
                return bytes(out[:prefix])
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
    if not decoder.eof and prefix is None:
        raise PayloadError(f"{name} body is truncated")
    return bytes(out)


def _gzip(data: bytes, limits: ExtractLimits, prefix: int | None) -> bytes:
    return _zlib_decode(data, 16 + zlib.MAX_WBITS, "gzip", limits, prefix)


def _deflate(data: bytes, limits: ExtractLimits, prefix: int | None) -> bytes:
    # "deflate" is meant to be zlib-wrapped, but many clients send raw deflate: accept both.
    try:
        return _zlib_decode(data, zlib.MAX_WBITS, "deflate", limits, prefix)
    except PayloadError as exc:
        if "corrupt" not in str(exc):
            raise
        return _zlib_decode(data, -zlib.MAX_WBITS, "deflate", limits, prefix)


def _brotli(data: bytes, limits: ExtractLimits, prefix: int | None) -> bytes:
    limit = _limit_for(data, limits) if prefix is None else prefix  # a prefix is its own bound
    step = _CHUNK if prefix is None else min(_CHUNK, prefix)
    decoder = brotli.Decompressor()
    out = bytearray()
    try:
        out += decoder.process(data, output_buffer_limit=step)
        while not decoder.is_finished() and not decoder.can_accept_more_data():
            if prefix is not None and len(out) >= prefix:
                break
            if len(out) > limit:
                raise _too_big("br", data, limit, limits)
            out += decoder.process(b"", output_buffer_limit=step)
    except brotli.error as exc:
        raise PayloadError(f"br body is corrupt: {exc}") from None
    if prefix is not None:
        return bytes(out[:prefix])
    if len(out) > limit:
        raise _too_big("br", data, limit, limits)
    if not decoder.is_finished():
        raise PayloadError("br body is truncated")
    return bytes(out)


def _zstd(data: bytes, limits: ExtractLimits, prefix: int | None) -> bytes:
    limit = _limit_for(data, limits) if prefix is None else prefix  # a prefix is its own bound
    step = _CHUNK if prefix is None else min(_CHUNK, prefix)
    out = bytearray()
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
        with reader:
            while prefix is None or len(out) < prefix:
                chunk = reader.read(step)
                if not chunk:
                    break
                out += chunk
                if len(out) > limit:
                    raise _too_big("zstd", data, limit, limits)
    except zstandard.ZstdError as exc:
        raise PayloadError(f"zstd body is corrupt: {exc}") from None
    return bytes(out if prefix is None else out[:prefix])


DECODERS: dict[str, Callable[[bytes, ExtractLimits, int | None], bytes]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
}


def _layers(content_encoding: str, limits: ExtractLimits) -> list[str]:
    """Encodings in the order they are undone (right to left), identity removed."""
    layers = [token.strip().lower() for token in content_encoding.split(",")]
    layers = [token for token in layers if token not in IDENTITY]
    if len(layers) > limits.max_encoding_layers:
        raise PayloadError(f"{len(layers)} content encodings stacked: refusing more than {limits.max_encoding_layers}")
    return layers[::-1]


def decode_content(data: bytes, content_encoding: str | None, limits: ExtractLimits) -> bytes:
    """Undo `Content-Encoding` (applied left to right, so undone right to left), within `limits`."""
    if not content_encoding:
        return data
    for name in _layers(content_encoding, limits):
        decoder = DECODERS.get(name)
        if decoder is None:
            raise PayloadError(f"unsupported content encoding {name!r}")
        data = decoder(data, limits, None)
    return data


def decode_prefix(data: bytes, content_encoding: str | None, limits: ExtractLimits, size: int) -> bytes:
    """At most the first `size` bytes of the decoded body, decoding no more than that.

    For looking at a body's start (the shadow-AI classifier reads the first 64 KB): the
    same bounded decoders, stopped early, so even a decompression bomb costs `size` bytes.
    Best effort: a body that cannot be decoded gives b"" (inspection reports it, not this).
    """
    if not content_encoding:
        return data[:size]
    try:
        layers = _layers(content_encoding, limits)
        for index, name in enumerate(layers):
            decoder = DECODERS.get(name)
            if decoder is None:
                return b""
            # An inner layer needs about `size` bytes of input for `size` bytes of output
            # (these codecs expand incompressible data by well under 1/8), plus one whole
            # block (zstd decodes blocks of up to 128 KB at once).
            inner = index < len(layers) - 1
            data = decoder(data, limits, size + size // 8 + INNER_BLOCK_BYTES if inner else size)
    except PayloadError:
        return b""
    return data[:size]
