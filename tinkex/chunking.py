"""Split a forward/forward_backward batch into requests, and combine their results.

Reference 12: datums are packed greedily, in order; a chunk closes when it holds
``max_len`` datums or when the next datum would push its estimated size past
``max_bytes`` (a single oversized datum still forms its own chunk). Results are
combined in chunk order; metrics are reduced by the suffix after their colon.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tinkex.core.errors import InvalidArgumentError, checking_arguments

from .types import Datum, ForwardBackwardOutput
from .types._mixins import value_count

log = logging.getLogger("tinkex.chunking")

MAX_CHUNK_LEN = 1024
MAX_CHUNK_BYTES = 5_000_000
BYTES_PER_TOKEN = 10
BYTES_PER_ELEMENT = 10
_U64 = 1 << 64


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


def estimate_datum_bytes(datum: Datum) -> int:
    """Estimated JSON request bytes of one datum (tokens and loss-input elements, 10 bytes each).

    Protobuf requests use :func:`tinkex.proto.codec.estimate_datum_bytes` instead.
    """
    total = 0
    for chunk in datum.model_input.chunks:
        tokens = getattr(chunk, "tokens", None)
        if tokens is not None:
            total += BYTES_PER_TOKEN * len(tokens)
        else:
            for attr in ("data", "location", "dmel"):
                value = getattr(chunk, attr, None)
                if value is not None:
                    total += len(value)
    for tensor in datum.loss_fn_inputs.values():
        total += BYTES_PER_ELEMENT * value_count(tensor)
    return total


def split_batch(data: Sequence[Datum], max_len: int = MAX_CHUNK_LEN,
                max_bytes: int = MAX_CHUNK_BYTES,
                estimate: Callable[[Datum], int] = estimate_datum_bytes) -> list[list[Datum]]:
    """Greedy, order-preserving chunks of at most ``max_len`` datums and ``max_bytes``.

    ``estimate`` sizes one datum as the request's encoding will (JSON by default).
    """
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
