"""Request bodies that are not JSON: ``multipart/form-data`` forms and raw bodies, streamed.

An operation's ``x-tinkex-body-encoding`` is ``multipart`` (the body type's
fields become form fields; its binary fields are files) or ``raw`` (one
``content`` argument is the whole body). A file or a raw body may be

* ``bytes`` (or ``bytearray`` / ``memoryview``),
* a path (``pathlib.Path`` or any ``os.PathLike``), opened only while it is sent,
* a binary file object, sent from its current position (it must be seekable,
  so that a retry can send it again),
* for a multipart file, a ``(filename, content)`` or ``(filename, content,
  content_type)`` tuple with ``content`` one of the above.

Nothing is read into memory whole: the body is a file-like :class:`Upload`
whose parts are read in pieces as the connection takes them, with a known
length (``Content-Length``). Each attempt reads it afresh (:meth:`Upload.open`).
Nested form fields use brackets: ``{"meta": {"tags": ["a"]}}`` is sent as
``meta[tags][]=a``.
"""

from __future__ import annotations

import io
import mimetypes
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, TypeAlias

CHUNK = 64 * 1024
FileContent: TypeAlias = "bytes | bytearray | memoryview | os.PathLike[str] | IO[bytes]"
"""What a raw body or a file may be."""
FileInput: TypeAlias = ("FileContent | tuple[str, FileContent] | "
                        "tuple[str, FileContent, str]")
"""A multipart file: its content, or ``(filename, content[, content_type])``."""
OCTET_STREAM = "application/octet-stream"


class _Part:
    """One source of bytes of a body, re-readable from its start."""

    size: int

    def open(self) -> IO[bytes]:
        raise NotImplementedError

    def close(self, handle: IO[bytes]) -> None:
        pass


class _Bytes(_Part):
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def open(self) -> IO[bytes]:
        return io.BytesIO(self.data)


class _PathPart(_Part):
    def __init__(self, path: Path) -> None:
        try:
            self.size = path.stat().st_size
        except OSError as exc:
            raise ValueError(f"cannot upload {path}: {exc.strerror or exc}") from None
        self.path = path

    def open(self) -> IO[bytes]:
        return self.path.open("rb")

    def close(self, handle: IO[bytes]) -> None:
        handle.close()


class _FilePart(_Part):
    """A caller's file object: sent from where it stood; never closed here."""

    def __init__(self, handle: IO[bytes], what: str) -> None:
        try:
            seekable = handle.seekable()
        except (AttributeError, ValueError):
            seekable = False
        if not seekable:
            raise TypeError(f"{what}: the file object must be seekable, so that a retry can "
                            "send it again; pass a path or bytes instead")
        self.handle = handle
        self.start = handle.tell()
        self.size = handle.seek(0, os.SEEK_END) - self.start
        handle.seek(self.start)

    def open(self) -> IO[bytes]:
        self.handle.seek(self.start)
        return self.handle


def _part(value: Any, what: str) -> _Part:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _Bytes(bytes(value))
    if isinstance(value, os.PathLike):
        return _PathPart(Path(value))
    if hasattr(value, "read"):
        if isinstance(value, io.TextIOBase):
            raise TypeError(f"{what}: open the file in binary mode ('rb')")
        return _FilePart(value, what)
    if isinstance(value, str):
        raise TypeError(f"{what}: a str is ambiguous; pass bytes, a pathlib.Path or a binary "
                        "file object")
    raise TypeError(f"{what}: expected bytes, a path or a binary file object, "
                    f"not {type(value).__name__}")


class _Reader(io.RawIOBase):
    """One pass over the parts of an :class:`Upload`."""

    def __init__(self, upload: Upload) -> None:
        self._upload = upload
        self._index = 0
        self._handle: IO[bytes] | None = None
        self._left = upload.length

    def readable(self) -> bool:
        return True

    def __len__(self) -> int:
        return self._left

    def tell(self) -> int:
        # requests sizes a file-like body as len() minus tell(): the Content-Length.
        return self._upload.length - self._left

    def read(self, size: int | None = -1) -> bytes:
        want = CHUNK if size is None or size < 0 else size
        parts = self._upload.parts
        while self._index < len(parts):
            part = parts[self._index]
            if self._handle is None:
                self._handle = part.open()
            data = self._handle.read(want)
            if data:
                self._left -= len(data)
                return data
            part.close(self._handle)
            self._handle = None
            self._index += 1
        return b""

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk

    def close(self) -> None:
        if self._handle is not None:
            self._upload.parts[self._index].close(self._handle)
            self._handle = None
        super().close()


class Upload:
    """A body of known length made of parts; :meth:`open` gives a fresh reader per attempt."""

    def __init__(self, parts: list[_Part], content_type: str) -> None:
        self.parts = parts
        self.content_type = content_type
        self.length = sum(p.size for p in parts)

    def __len__(self) -> int:
        return self.length

    def open(self) -> _Reader:
        return _Reader(self)

    def read_all(self) -> bytes:
        """The whole body (for tests and small bodies)."""
        with self.open() as reader:
            return b"".join(iter(reader))

    def __repr__(self) -> str:
        return f"<Upload {self.content_type.split(';')[0]}, {self.length} bytes>"


def raw_body(content: Any, media: str, what: str = "content") -> Upload:
    """A raw body of ``media`` from bytes, a path or a binary file object."""
    return Upload([_part(content, what)], media)


def form_fields(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    """Form fields of a JSON-ready value: nested objects and lists with bracketed names."""
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from form_fields(item, f"{prefix}[{key}]")
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from form_fields(item, f"{prefix}[]")
    elif isinstance(value, bool):
        yield prefix, "true" if value else "false"
    else:
        yield prefix, str(value)


def _quote(name: str) -> str:
    # The HTML standard's escaping of names and filenames in a form-data header.
    return name.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def _file(value: Any, field: str) -> tuple[str, _Part, str]:
    """(filename, part, content type) of one file argument."""
    if isinstance(value, tuple):
        if len(value) not in (2, 3) or not isinstance(value[0], str):
            raise TypeError(f"{field}: a file tuple is (filename, content) or "
                            "(filename, content, content_type)")
        filename, content = value[0], value[1]
        kind = value[2] if len(value) == 3 else None
        part = _part(content, field)
    else:
        part = _part(value, field)
        name = getattr(value, "name", None)
        filename = (Path(value).name if isinstance(value, os.PathLike)
                    else Path(name).name if isinstance(name, str) else field)
        kind = None
    kind = kind or mimetypes.guess_type(filename)[0] or OCTET_STREAM
    return filename, part, kind


def multipart_body(fields: Mapping[str, Any], files: Mapping[str, Any],
                   boundary: str | None = None) -> Upload:
    """A ``multipart/form-data`` body: ``fields`` (JSON-ready values) and ``files`` by name.

    A file field given a list (or a tuple of files) sends one part per file
    under the same name.
    """
    boundary = boundary or f"tinkex-{uuid.uuid4().hex}"
    parts: list[_Part] = []

    def header(text: str) -> None:
        parts.append(_Bytes(text.encode("utf-8")))

    for top, value in fields.items():
        for name, text in form_fields(value, top):
            header(f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"'
                   f"\r\n\r\n{text}\r\n")
    for name, value in files.items():
        many = isinstance(value, list) or (isinstance(value, tuple) and bool(value)
                                           and not isinstance(value[0], str))
        for item in (value if many else [value]):
            filename, part, kind = _file(item, name)
            header(f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"; '
                   f'filename="{_quote(filename)}"\r\nContent-Type: {kind}\r\n\r\n')
            parts.append(part)
            header("\r\n")
    header(f"--{boundary}--\r\n")
    return Upload(parts, f"multipart/form-data; boundary={boundary}")
