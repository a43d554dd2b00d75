"""Body codecs by media type, for the media types an API document declares.

JSON is the engine's own format. Any other body format (a protobuf result, a
compressed protobuf request, an image) is one entry of a :class:`BodyCodecs`
registry, keyed by its media type: the reader of a body looks its
``Content-Type`` up instead of branching on it. A registry refuses a media type
that no operation of the document declares (in a request body, a response or a
future's ``result_media``), so a codec cannot silently go unused.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from .errors import ConfigError

JSON = "application/json"

C = TypeVar("C")


def media_type(header: str | None) -> str:
    """The media type of a ``Content-Type`` value, lowercased, without parameters."""
    return (header or "").split(";")[0].strip().lower()


def is_json(media: str) -> bool:
    """Whether a media type is JSON (``application/json`` or a ``+json`` suffix type)."""
    return media == JSON or media.endswith("+json")


def declared_media(doc: Mapping[str, Any]) -> frozenset[str]:
    """Every media type the document's operations declare for a body."""
    found: set[str] = set()
    for item in (doc.get("paths") or {}).values():
        for op in (item or {}).values():
            if not isinstance(op, dict):
                continue
            found.update((op.get("requestBody") or {}).get("content") or {})
            for response in (op.get("responses") or {}).values():
                found.update((response or {}).get("content") or {})
            found.update((op.get("x-tinkex-future") or {}).get("result_media") or ())
    return frozenset(media_type(m) for m in found)


class BodyCodecs(Mapping[str, C], Generic[C]):
    """Codecs (of any one kind: decoders, encoders) of non-JSON bodies, by media type."""

    def __init__(self, declared: Iterable[str], codecs: Mapping[str, C] | None = None) -> None:
        self.declared = frozenset(media_type(m) for m in declared)
        self._codecs = {media_type(m): c for m, c in (codecs or {}).items()}
        unknown = sorted(set(self._codecs) - self.declared)
        if unknown:
            raise ConfigError(f"no operation of the API document declares media type(s) "
                              f"{', '.join(unknown)}; declared: {', '.join(sorted(self.declared))}")

    @classmethod
    def for_document(cls, doc: Mapping[str, Any], codecs: Mapping[str, C] | None = None
                     ) -> BodyCodecs[C]:
        return cls(declared_media(doc), codecs)

    def for_header(self, content_type: str | None) -> C | None:
        """The codec of a ``Content-Type`` header's media type (None: JSON or unknown)."""
        return self._codecs.get(media_type(content_type))

    def __getitem__(self, media: str) -> C:
        return self._codecs[media_type(media)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._codecs)

    def __len__(self) -> int:
        return len(self._codecs)


__all__ = ["JSON", "BodyCodecs", "declared_media", "is_json", "media_type"]
