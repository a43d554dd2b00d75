"""Checkpoint archives behind signed, expiring URLs (``GET /_emulator/archives/{token}``).

The real service hands out a signed storage URL; the emulator signs its own:
the token carries the checkpoint, its owner and an expiry, authenticated with an
HMAC whose key is kept in the database (so URLs survive a restart). Anyone with
the URL may download until it expires, like a presigned URL; a tampered token
is 403, an expired one 410. The download is a tar.gz of the weight file and a
``checkpoint.json`` describing it, streamed from a spooled temporary file.
"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from starlette.responses import StreamingResponse

from tinkex.emulator.errors import HTTPProblem

from .signing import Signer

_CHUNK = 64 * 1024


class ArchiveSigner:
    def __init__(self, secret: bytes, ttl: float):
        self._signer = Signer(secret, "archive")
        self.ttl = ttl

    def token(self, run_id: str, kind: str, name: str, owner: str) -> tuple[str, float]:
        """A URL-safe token and its expiry (wall-clock seconds)."""
        return self._signer.sign({"r": run_id, "k": kind, "n": name, "o": owner}, self.ttl)

    def verify(self, token: str) -> dict[str, Any]:
        return self._signer.verify(token, "archive URL")


class SignedLinks:
    """Signed, expiring download tokens of other kinds (external weights, traces).

    Each kind signs with its own derived key, so a token for one kind of
    download cannot be replayed against another's route.
    """

    def __init__(self, secret: bytes, ttl: float):
        self._secret = secret
        self.ttl = ttl

    def issue(self, kind: str, claims: dict[str, Any], ttl: float | None = None
              ) -> tuple[str, float]:
        """A URL-safe token and its expiry (wall-clock seconds)."""
        return Signer(self._secret, kind).sign(claims, self.ttl if ttl is None else ttl)

    def open(self, kind: str, token: str) -> dict[str, Any]:
        """The claims; 403 for a token we did not sign (for this kind), 410 once expired."""
        try:
            return Signer(self._secret, kind).verify(token, "download URL")
        except (ValueError, KeyError):
            raise HTTPProblem(403, "invalid download URL signature") from None


def build_archive(weights: Path, manifest: dict[str, Any]) -> IO[bytes]:
    """A tar.gz holding the weights and ``checkpoint.json``, rewound for reading."""
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        tar.add(weights, arcname="adapter_model.safetensors")
        meta = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
        info = tarfile.TarInfo("checkpoint.json")
        info.size, info.mtime = len(meta), int(time.time())
        tar.addfile(info, io.BytesIO(meta))
    out.seek(0)
    return out


def _chunks(file: IO[bytes]) -> Iterator[bytes]:
    with file:
        while chunk := file.read(_CHUNK):
            yield chunk


async def stream_archive(weights: Path, manifest: dict[str, Any],
                         filename: str) -> StreamingResponse:
    file = await asyncio.to_thread(build_archive, weights, manifest)
    size = file.seek(0, io.SEEK_END)  # the archive is built first, so its length is known
    file.seek(0)
    return StreamingResponse(_chunks(file), media_type="application/gzip",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                      "Content-Length": str(size)})
