"""Body codecs are a registry keyed by the media types the document declares."""

from __future__ import annotations

import pytest

from tinkex.core.codecs import BodyCodecs, declared_media, is_json, media_type
from tinkex.core.errors import ConfigError

from .loopback import kennel, kennel_variant

PAWPRINT = "image/x-pawprint"


def test_the_declared_media_types_are_the_documents() -> None:
    table, _ = kennel()
    assert {PAWPRINT, "application/json"} <= declared_media(table.document)
    changed = kennel_variant("result_media: [image/x-pawprint, application/json]",
                             "result_media: [application/json]")
    assert PAWPRINT not in declared_media(changed.document)


def test_a_registry_looks_up_the_content_type_and_refuses_undeclared_media() -> None:
    table, _ = kennel()
    codecs = BodyCodecs.for_document(table.document, {PAWPRINT: "paw decoder"})
    assert codecs.for_header("Image/X-Pawprint; charset=binary") == "paw decoder"
    assert codecs.for_header("application/json") is None
    assert dict(codecs) == {PAWPRINT: "paw decoder"}
    with pytest.raises(ConfigError, match="declares media type\\(s\\) image/x-catprint"):
        BodyCodecs.for_document(table.document, {"image/x-catprint": "cat decoder"})


def test_json_and_parameters() -> None:
    assert media_type(" Application/JSON ; charset=utf-8") == "application/json"
    assert is_json("application/problem+json") and not is_json("application/x-protobuf")
