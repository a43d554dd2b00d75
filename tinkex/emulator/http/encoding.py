"""What goes over the wire besides JSON: protobuf request bodies and protobuf results.

Requests: an operation whose manifest ``protobuf.request`` names a message also
takes a protobuf body (``Content-Type: application/x-protobuf``, optionally
``Content-Encoding: zstd``). Today that is ``forward_backward`` only: SDK >= 0.25
always send it so, 0.19 - 0.24.1 only when the client config sets
``proto_write_fwdbwd`` (the emulator's ``--proto-fwdbwd``). Its decoded form is a
:class:`~tinkex.proto.codec.ForwardBackwardCall`, which also carries
``forward_only``.

Results: the messages of the operations' ``protobuf.result`` (``ForwardBackwardOutput``
and ``SampleResponse``) are answered as protobuf when the poll's ``Accept`` lists ``application/x-protobuf`` (SDK
0.18.1 - 0.24.1 list it with JSON and take either; SDK >= 0.25 list only it and
reject JSON), as JSON otherwise. Every other result, and every non-success
reply of a poll (try-again, failure, metadata), is JSON whatever ``Accept``
says, as on the real service.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from tinkex._spec import load_operation_table
from tinkex.core.codecs import BodyCodecs
from tinkex.core.model.operations import OperationTable
from tinkex.emulator.errors import HTTPProblem
from tinkex.proto import codec
from tinkex.proto.compression import UnsupportedEncodingError

log = logging.getLogger("tinkex.emulator")

JSON = "application/json"
PROTOBUF = codec.MEDIA_TYPE



def _request_decoder(operation_id: str, table: OperationTable | None = None
                     ) -> Callable[[bytes, str | None], Any] | None:
    """The decoder of the protobuf request message the document (default: the packaged one)
    gives the operation; None when it takes none of its own."""
    table = table or load_operation_table()
    spec = table[operation_id].protobuf if operation_id in table else None
    if spec is None or spec.request is None or spec.send_as is not None:
        return None
    return codec.REQUEST_DECODERS.get(spec.request)


@functools.cache
def _protobuf_results() -> frozenset[str]:
    """The result messages that travel as protobuf: each operation's ``protobuf.result``."""
    return frozenset(op.protobuf.result for op in load_operation_table()
                     if op.protobuf is not None and op.protobuf.result)


def _media_types(header: str | None) -> list[str]:
    """The media types of a Content-Type / Accept header, without parameters; q=0 dropped."""
    types = []
    for part in (header or "").split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        if media and not any(p.replace(" ", "") in ("q=0", "q=0.0") for p in params):
            types.append(media)
    return types


RequestDecoder = Callable[[str, bytes, str | None], Any]
"""(operation id, body, Content-Encoding) -> the handler's body."""
ResultEncoder = Callable[[BaseModel], bytes]


@functools.cache
def request_decoders() -> BodyCodecs[RequestDecoder]:
    """The decoders of non-JSON request bodies, by the media types the document declares."""
    return BodyCodecs.for_document(load_operation_table().document, {PROTOBUF: decode_request})


@functools.cache
def result_encoders() -> BodyCodecs[ResultEncoder]:
    """The encoders of non-JSON results, by the media types the document declares."""
    return BodyCodecs.for_document(load_operation_table().document,
                                   {PROTOBUF: codec.encode_result})


def decode_request(operation_id: str, body: bytes, content_encoding: str | None) -> Any:
    """The handler's body for a protobuf request; 415 / 400 when it cannot be one."""
    decoder = _request_decoder(operation_id)
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
    if type(result).__name__ in _protobuf_results():
        encoders = result_encoders()
        for media in _media_types(accept):
            if media in encoders:
                log.debug("%s result sent as %s", type(result).__name__,
                          "protobuf" if media == PROTOBUF else media)
                return encoders[media](result), media
    payload = result.model_dump(mode="json", exclude_none=True)
    return json.dumps(payload, separators=(",", ":")).encode("utf-8"), JSON
