"""Split a forward/forward_backward batch into requests, and combine their results.

Reference 12: datums are packed greedily, in order; a chunk closes when it holds
``max_items`` datums or when the next datum would push its estimated size past
``max_bytes`` (a single oversized datum still forms its own chunk). The limits,
and the weights of the JSON size estimate, are the operation's ``chunking`` in
the manifest (``x-tinkex-chunking``). Results are combined in chunk order;
metrics are reduced by the suffix after their colon.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tinkex._spec import load_operation_table
from tinkex.core.errors import InvalidArgumentError, checking_arguments
from tinkex.core.model.operations import ChunkingSpec, OperationTable

from .types import Datum, ForwardBackwardOutput
from .types._mixins import value_count

log = logging.getLogger("tinkex.chunking")

_U64 = 1 << 64
PASS_OPERATIONS = ("forward", "forward_backward")


def chunk_limits(*operations: str, table: OperationTable | None = None) -> ChunkingSpec:
    """The chunking that fits every one of ``operations`` (default: both passes) in ``table``
    (default: the packaged document): the smallest limits, the largest estimate weights."""
    if table is None and not operations:
        return _packaged_limits()
    table = table or load_operation_table()
    specs = []
    for name in operations or PASS_OPERATIONS:
        spec = table[name].chunking if name in table else None
        if spec is None:
            raise InvalidArgumentError(f"the API document gives operation {name!r} no chunking")
        specs.append(spec)
    return ChunkingSpec(min(s.max_items for s in specs), min(s.max_bytes for s in specs),
                        max((s.bytes_per_token for s in specs), key=lambda v: v or 0),
                        max((s.bytes_per_element for s in specs), key=lambda v: v or 0))


def as_datums(data: Sequence[Datum | Mapping[str, Any]]) -> list[Datum]:
    """Datums from Datum objects or plain mappings (lists and arrays are converted)."""
    datums = []
    for i, d in enumerate(data):
        if isinstance(d, Datum):
            datums.append(d)
        else:
            with checking_arguments(f"data[{i}]"):
                datums.append(Datum.model_validate(d))
    return datums


@functools.cache
def _packaged_limits() -> ChunkingSpec:
    return chunk_limits(*PASS_OPERATIONS, table=load_operation_table())


def estimate_datum_bytes(datum: Datum, limits: ChunkingSpec | None = None) -> int:
    """Estimated JSON request bytes of one datum: its tokens and loss-input elements, each
    weighted as ``limits`` say (default: the packaged document's passes).

    Protobuf requests use :func:`tinkex.proto.codec.estimate_datum_bytes` instead.
    """
    limits = limits or chunk_limits()
    per_token, per_element = limits.bytes_per_token or 1, limits.bytes_per_element or 1
    total = 0
    for chunk in datum.model_input.chunks:
        tokens = getattr(chunk, "tokens", None)
        if tokens is not None:
            total += per_token * len(tokens)
        else:
            for attr in ("data", "location", "dmel"):
                value = getattr(chunk, attr, None)
                if value is not None:
                    total += len(value)
    for tensor in datum.loss_fn_inputs.values():
        total += per_element * value_count(tensor)
    return total


def split_batch(data: Sequence[Datum], max_len: int | None = None,
                max_bytes: int | None = None,
                estimate: Callable[[Datum], int] | None = None, *,
                limits: ChunkingSpec | None = None) -> list[list[Datum]]:
    """Greedy, order-preserving chunks of at most ``max_len`` datums and ``max_bytes``.

    Unset, both come from ``limits`` (default: the packaged document's passes).
    ``estimate`` sizes one datum as the request's encoding will (JSON by default).
    """
    limits = limits or chunk_limits()
    max_len = limits.max_items if max_len is None else max_len
    max_bytes = limits.max_bytes if max_bytes is None else max_bytes
    if estimate is None:
        def estimate(datum: Datum) -> int:
            return estimate_datum_bytes(datum, limits)
    if not data:
        raise InvalidArgumentError("No data provided: forward/forward_backward need at least one datum")
    chunks: list[list[Datum]] = []
    current: list[Datum] = []
    size = 0
    for datum in data:
        nbytes = estimate(datum)
        if current and (len(current) >= max_len or size + nbytes > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(datum)
        size += nbytes
    chunks.append(current)
    return chunks


def _split_key(key: str) -> tuple[str, str]:
    parts = key.split(":")
    if len(parts) != 2:
        raise InvalidArgumentError(f"metric key {key!r} must look like 'name:reduction' (one colon)")
    return parts[0], parts[1]


def combine_metrics(metrics: Sequence[dict[str, float]], weights: Sequence[int]) -> dict[str, float]:
    """Reduce per-chunk metrics; ``weights`` are the datums per chunk (for means)."""
    if not metrics:
        return {}
    if len(metrics) == 1:
        for key in metrics[0]:
            _split_key(key)
        return dict(metrics[0])
    total = float(sum(weights)) or 1.0
    out: dict[str, float] = {}
    for key in metrics[0]:
        _, reduction = _split_key(key)
        if not all(key in m for m in metrics[1:]):
            continue
        values = [float(m[key]) for m in metrics]
        mean = sum(v * w for v, w in zip(values, weights, strict=True)) / total
        if reduction == "mean":
            out[key] = mean
        elif reduction == "sum":
            out[key] = sum(values)
        elif reduction == "min":
            out[key] = min(values)
        elif reduction == "max":
            out[key] = max(values)
        elif reduction == "slack":
            out[key] = max(values) - mean
        elif reduction in ("hash2", "hash_unordered"):
            out[key] = float(sum(int(v) % _U64 for v in values) % _U64)
        elif reduction == "unique":
            out[key] = values[0]
            for i, v in enumerate(values[1:], start=2):
                out[f"{key}_{i}"] = v
        else:
            log.debug("dropping metric %s: unknown reduction %r", key, reduction)
    return out


def combine_outputs(outputs: Sequence[ForwardBackwardOutput]) -> ForwardBackwardOutput:
    """One ForwardBackwardOutput from per-chunk outputs, in chunk order."""
    if not outputs:
        raise InvalidArgumentError("nothing to combine")
    loss_fn_outputs: list[Any] = []
    for out in outputs:
        loss_fn_outputs.extend(out.loss_fn_outputs)
    metrics = combine_metrics([dict(o.metrics) for o in outputs],
                              [len(o.loss_fn_outputs) for o in outputs])
    return ForwardBackwardOutput(loss_fn_output_type=outputs[0].loss_fn_output_type,
                                 loss_fn_outputs=loss_fn_outputs, metrics=metrics)
