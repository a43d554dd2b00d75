"""JSON or protobuf: how forward/forward_backward requests and their results travel.

The Tinker API has a protobuf form for three payloads (reference 5): the
``forward_backward`` request body and the ``ForwardBackwardOutput`` /
``SampleResponse`` future results. A client family picks its behaviour with
``ServiceClient(wire_format=...)``:

``"auto"`` (default)
    Results are asked for as protobuf with JSON as fallback
    (``Accept: application/x-protobuf, application/json``: the server picks).
    ``forward_backward`` bodies are protobuf when the server's client config
    sets ``proto_write_fwdbwd``, zstd-compressed when it sets
    ``proto_compress_fwdbwd``; ``forward`` is sent as a ``forward_backward`` with
    ``forward_only`` when it also sets ``fwd_via_fwdbwd``, else as JSON to
    ``/forward``. This is how SDK 0.19 - 0.24.1 negotiate, so a server that
    serves those SDKs serves tinkex.
``"protobuf"``
    Like SDK >= 0.25: ``forward`` and ``forward_backward`` bodies are always
    protobuf (``forward`` as ``forward_only``), whatever ``proto_write_fwdbwd``
    says. Compression still follows ``proto_compress_fwdbwd``: only the server
    knows whether it decompresses.
``"json"``
    JSON everywhere, results included (``Accept: application/json``): for
    servers or proxies that only speak JSON, and for reading traffic.

Protobuf bodies are encoded by an ``encode_body`` hook of the core engine,
after the sequencer numbered the request, so ``seq_id`` ordering is unchanged;
chunks are sized with the protobuf estimate (reference 5.5) when they travel
as protobuf.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from tinkex import chunking
from tinkex import types as T
from tinkex._lazy import LazyModule
from tinkex._spec import load_operation_table
from tinkex.core.engine import BodyEncoder, EncodedBody
from tinkex.core.errors import InvalidArgumentError
from tinkex.core.futures import Decoder

if TYPE_CHECKING:
    from tinkex.core.model.operations import OperationTable
    from tinkex.proto import codec
else:  # protobuf, numpy and zstandard load with the first protobuf body or result
    codec = LazyModule("tinkex.proto.codec")

WireFormat = Literal["auto", "json", "protobuf"]
WIRE_FORMATS: tuple[str, ...] = get_args(WireFormat)

#: The JSON body field that carries the data of each pass operation.
_INPUT_FIELDS = {"forward": "forward_input", "forward_backward": "forward_backward_input"}


def check_wire_format(value: str) -> WireFormat:
    if value not in WIRE_FORMATS:
        raise InvalidArgumentError(f"wire_format must be one of {', '.join(map(repr, WIRE_FORMATS))}, "
                         f"not {value!r}")
    return value  # type: ignore[return-value]


# ---- results ----------------------------------------------------------------------------


def decode_result(content: bytes, result_type: str) -> Any:
    """The future poller's decoder for protobuf results (``decode(content, result type name)``).

    Tensors of the decoded ``ForwardBackwardOutput`` are numpy-backed.
    """
    model = getattr(T, result_type, None)
    if model is None:
        raise TypeError(f"no result type {result_type!r}")
    return codec.decode_result(content, model)


def result_decoders(wire_format: WireFormat) -> Mapping[str, Decoder]:
    """Decoders for the poller: registering protobuf makes it ask for protobuf first."""
    return {} if wire_format == "json" else {codec.MEDIA_TYPE: decode_result}


# ---- requests ---------------------------------------------------------------------------


def encode_pass(body: dict[str, Any], *, forward_only: bool, compress: bool) -> EncodedBody:
    """A numbered ``forward_backward`` body (validated fields, not JSON) as protobuf."""
    content = codec.encode_forward_backward_request(
        body["model_id"], body.get("seq_id"), body["forward_backward_input"],
        forward_only=forward_only, compressed=compress)
    headers = {"Content-Encoding": codec.ZSTD} if compress else {}
    return EncodedBody(content, codec.MEDIA_TYPE, headers)


@dataclass(frozen=True)
class PassRoute:
    """Where and how the chunks of one forward / forward_backward call are sent."""

    operation: str
    input_field: str
    encode_body: BodyEncoder | None
    """None: JSON."""
    estimate: Callable[[T.Datum], int]
    """Request bytes of one datum in this encoding, for chunking."""


_JSON_ESTIMATE = chunking.estimate_datum_bytes


@dataclass(frozen=True)
class PassWire:
    """The encoding of forward / forward_backward requests, settled once per client family."""

    protobuf: bool = False
    compress: bool = False
    forward_via_fwdbwd: bool = False
    table: OperationTable | None = field(default=None, compare=False, repr=False)
    """The document whose ``protobuf`` keys route the passes (None: the packaged one)."""

    @classmethod
    def negotiate(cls, wire_format: WireFormat,
                  config: T.ClientConfigResponse | None) -> PassWire:
        """Combine the user's choice with the server's client config (None: not fetched)."""
        if wire_format == "json":
            return cls()
        config = config or T.ClientConfigResponse()
        if wire_format == "protobuf":
            return cls(protobuf=True, compress=config.proto_compress_fwdbwd,
                       forward_via_fwdbwd=True)
        if not config.proto_write_fwdbwd:
            return cls()
        return cls(protobuf=True, compress=config.proto_compress_fwdbwd,
                   forward_via_fwdbwd=config.fwd_via_fwdbwd)

    def route(self, operation: str) -> PassRoute:
        """How to send a ``forward`` or ``forward_backward`` pass.

        In protobuf, a pass goes to the operation the document's ``protobuf.send_as``
        names (a forward as a forward-only forward_backward), else to its own.
        """
        if operation not in _INPUT_FIELDS:
            raise InvalidArgumentError(f"not a pass operation: {operation!r}")
        spec = (self.table or load_operation_table())[operation].protobuf
        target = spec.send_as if spec is not None and spec.send_as else operation
        sent_as_other = target != operation
        if not self.protobuf or (sent_as_other and not self.forward_via_fwdbwd):
            return PassRoute(operation, _INPUT_FIELDS[operation], None, _JSON_ESTIMATE)
        encoder = functools.partial(encode_pass, forward_only=sent_as_other,
                                    compress=self.compress)
        return PassRoute(target, _INPUT_FIELDS[target], encoder, codec.estimate_datum_bytes)

    def estimate(self, *operations: str) -> Callable[[T.Datum], int]:
        """A datum size that fits every one of ``operations``' encodings (the largest).

        For calls whose passes must chunk alike (a custom loss's forward and backward).
        """
        estimates = list(dict.fromkeys(self.route(op).estimate for op in operations))
        if len(estimates) == 1:
            return estimates[0]
        return lambda datum: max(estimate(datum) for estimate in estimates)


__all__ = ["WIRE_FORMATS", "PassRoute", "PassWire", "WireFormat", "check_wire_format",
           "decode_result", "encode_pass", "result_decoders"]
