"""zstd for protobuf ``forward_backward`` bodies (client config ``proto_compress_fwdbwd``).

The SDK compresses with a default ``zstandard.ZstdCompressor`` (one frame, content
size in the header) and says so with ``Content-Encoding: zstd``. Decompression
is bounded: a frame's declared size is checked *before* allocating (zstandard
trusts the header and would ignore ``max_output_size``), and frames without a
declared size may not grow past the same limit.
"""

from __future__ import annotations

import zstandard

from .errors import ProtoDecodeError

ZSTD = "zstd"
#: Largest decompressed body accepted (chunks are ~5 MB by default; this leaves room).
MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024
_IDENTITY = ("", "identity")


class UnsupportedEncodingError(ProtoDecodeError):
    """The body uses a ``Content-Encoding`` other than zstd / identity (HTTP 415)."""


def compress(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def _unzstd(data: bytes, max_size: int) -> bytes:
    try:
        declared = zstandard.frame_content_size(data)
        if declared > max_size:
            raise ProtoDecodeError(f"zstd body declares {declared} bytes, more than the "
                                   f"{max_size} allowed")
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=max_size)
    except zstandard.ZstdError as e:
        raise ProtoDecodeError(f"body is not valid zstd (or is larger than {max_size} "
                               f"bytes): {e}") from None


def decompress(data: bytes, content_encoding: str | None = ZSTD, *,
               max_size: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Undo ``Content-Encoding`` (``None`` / identity: unchanged; ``zstd``: decompressed).

    Several codings (``"zstd, identity"``) are undone last-applied first, as HTTP says.
    """
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    for coding in reversed(codings):
        if coding == ZSTD:
            data = _unzstd(data, max_size)
        elif coding not in _IDENTITY:
            raise UnsupportedEncodingError(f"Content-Encoding {coding!r} is not supported "
                                           "(only zstd)")
    return data
