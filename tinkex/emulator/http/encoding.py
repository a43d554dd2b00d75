"""What goes over the wire besides JSON: protobuf request bodies and protobuf results.

Requests: an operation listed in :data:`PROTOBUF_REQUESTS` also takes a
protobuf body (``Content-Type: application/x-protobuf``, optionally
``Content-Encoding: zstd``). Today that is ``forward_backward`` only: SDK >= 0.25
always send it so, 0.19 - 0.24.1 only when the client config sets
``proto_write_fwdbwd`` (the emulator's ``--proto-fwdbwd``). Its decoded form is a
:class:`~tinkex.proto.codec.ForwardBackwardCall`, which also carries
``forward_only``.

Results: ``ForwardBackwardOutput`` and ``SampleResponse`` are answered as
protobuf when the poll's ``Accept`` lists ``application/x-protobuf`` (SDK
0.18.1 - 0.24.1 list it with JSON and take either; SDK >= 0.25 list only it and
reject JSON), as JSON otherwise. Every other result, and every non-success
reply of a poll (try-again, failure, metadata), is JSON whatever ``Accept``
says, as on the real service.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from tinkex.emulator.errors import HTTPProblem
from tinkex.proto import codec
from tinkex.proto.compression import UnsupportedEncodingError

log = logging.getLogger("tinkex.emulator")

JSON = "application/json"
PROTOBUF = codec.MEDIA_TYPE

#: operationId -> decoder of its protobuf body (body bytes, Content-Encoding) -> handler body.
PROTOBUF_REQUESTS: dict[str, Callable[[bytes, str | None], Any]] = {
    "forward_backward": codec.decode_forward_backward_request,
}


def _media_types(header: str | None) -> list[str]:
    """The media types of a Content-Type / Accept header, without parameters; q=0 dropped."""
    types = []
    for part in (header or "").split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        if media and not any(p.replace(" ", "") in ("q=0", "q=0.0") for p in params):
            types.append(media)
    return types


def is_protobuf(content_type: str | None) -> bool:
    return PROTOBUF in _media_types(content_type)


def decode_request(operation_id: str, body: bytes, content_encoding: str | None) -> Any:
    """The handler's body for a protobuf request; 415 / 400 when it cannot be one."""
    decoder = PROTOBUF_REQUESTS.get(operation_id)
    if decoder is None:
        raise HTTPProblem(415, f"{operation_id} takes a JSON body, not {PROTOBUF}")
    if not body:
        raise HTTPProblem(400, "request body is required")
    log.debug("%s: protobuf body, %d bytes, Content-Encoding %s", operation_id, len(body),
              content_encoding or "identity")
    try:
        return decoder(body, content_encoding)
    except UnsupportedEncodingError as e:
        raise HTTPProblem(415, str(e)) from None
    except ValueError as e:  # ProtoDecodeError and invalid values
        raise HTTPProblem(400, f"malformed protobuf body: {e}") from None


def encode_result(result: BaseModel, accept: str | None) -> tuple[bytes, str]:
    """The body and media type of a successful result."""
    if isinstance(result, codec.PROTO_RESULT_TYPES) and PROTOBUF in _media_types(accept):
        log.debug("%s result sent as protobuf", type(result).__name__)
        return codec.encode_result(result), PROTOBUF
    payload = result.model_dump(mode="json", exclude_none=True)
    return json.dumps(payload, separators=(",", ":")).encode("utf-8"), JSON
