"""Download a checkpoint archive and extract it safely.

The archive is streamed to a temporary file in constant memory (with a progress
bar on stderr), checked member by member — no absolute paths, no ``..``, no links
that leave the target, no device files — extracted into a temporary directory
next to the destination, and renamed into place only when everything succeeded.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import requests

from .paths import TinkerPath

if TYPE_CHECKING:
    import tarfile

CHUNK_BYTES = 1 << 20


class UnsafeArchiveError(ValueError):
    """The archive holds a member that would escape or damage the destination."""


def _check_member(member: tarfile.TarInfo, root: Path) -> None:
    name = member.name
    pure = PurePosixPath(name)
    if pure.is_absolute() or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path")
    if ".." in pure.parts:
        raise UnsafeArchiveError(f"archive member {name!r} climbs out with '..'")
    if member.isdev() or member.isfifo() or not (member.isfile() or member.isdir()
                                                 or member.issym() or member.islnk()):
        raise UnsafeArchiveError(f"archive member {name!r} is a device or special file")
    if member.issym() or member.islnk():
        link = PurePosixPath(member.linkname)
        base = (root / pure.parent) if member.issym() else root
        target = Path(os.path.normpath(base / link))
        if link.is_absolute() or not str(target).startswith(str(root) + os.sep):
            raise UnsafeArchiveError(f"archive member {name!r} links outside the destination "
                                     f"({member.linkname!r})")


def safe_extract(archive: str | Path, destination: str | Path) -> None:
    """Extract a tar(.gz) into ``destination`` after checking every member."""
    root = Path(destination).resolve()
    root.mkdir(parents=True, exist_ok=True)
    import tarfile  # only downloads need it (with its compression modules)

    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            _check_member(member, root)
        for member in members:
            # permissions: never setuid/setgid/world-writable from an archive
            member.mode &= 0o755 if member.isdir() else 0o644
            tar.extract(member, root, set_attrs=False)


def _stream_to(url: str, path: Path, *, progress: bool, timeout: float) -> None:
    from .core.errors import APIConnectionError, APIStatusError, APITimeoutError

    try:
        with requests.get(url, stream=True, timeout=(10, timeout)) as resp:
            if resp.status_code >= 400:
                raise APIStatusError(f"GET archive: HTTP {resp.status_code}: "
                                     f"{resp.text[:200]}", status_code=resp.status_code,
                                     body=None)
            total = int(resp.headers.get("content-length") or 0) or None
            bar = _progress_bar(total, progress)
            with open(path, "wb") as out:
                for block in resp.iter_content(CHUNK_BYTES):
                    out.write(block)
                    bar.update(len(block))
            bar.close()
    except requests.Timeout as exc:
        raise APITimeoutError(f"GET archive timed out: {type(exc).__name__}") from None
    except requests.RequestException as exc:
        raise APIConnectionError(f"GET archive failed: {type(exc).__name__}") from None


def _progress_bar(total: int | None, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="download",
                file=sys.stderr, disable=not enabled, leave=False)


def target_dir(output_dir: str | Path, tinker_path: str) -> Path:
    """Where ``download`` puts a checkpoint: one directory per checkpoint under output_dir."""
    parsed = TinkerPath.parse(tinker_path)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{parsed.training_run_id}_{parsed.kind}_{parsed.name}")
    return Path(output_dir) / safe


def download(rest_client: Any, tinker_path: str, output_dir: str | Path = ".", *,
             force: bool = False, progress: bool = True, timeout: float = 300.0) -> Path:
    """Download and extract the checkpoint at ``tinker_path``; return its directory.

    An existing directory is left alone unless ``force`` is set (then it is
    replaced, atomically: the old one stays until the new one is complete).
    """
    destination = target_dir(output_dir, tinker_path)
    if destination.exists() and not force:
        raise FileExistsError(f"{destination} already exists (use force=True to replace it)")
    link = rest_client.get_checkpoint_archive_url_from_tinker_path(tinker_path)
    link = link.result() if hasattr(link, "result") else link
    destination.parent.mkdir(parents=True, exist_ok=True)
    import tempfile

    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".tinkex-download-") as tmp:
        archive = Path(tmp) / "archive.tar.gz"
        _stream_to(str(link.url), archive, progress=progress, timeout=timeout)
        staging = Path(tmp) / "extracted"
        safe_extract(archive, staging)
        if destination.exists():
            old = Path(tmp) / "previous"
            destination.rename(old)
        staging.rename(destination)
    return destination


__all__ = ["UnsafeArchiveError", "download", "safe_extract", "target_dir"]
