"""Per-datum custom losses: ``ServiceClient.create_custom_loss`` and its ``LossHandle``.

A per-datum loss ``fn(logprobs, *inputs) -> (loss, metrics)`` takes a datum's
target logprobs, then one tensor per ``loss_fn_inputs`` key it names, and
returns a scalar tensor and scalar metrics keyed ``custom/<name>:sum`` or
``custom/<name>:mean``. A handle runs it here, on every datum, through the
client-side custom loss of :mod:`tinkex.custom_loss` (torch computes the
gradient), with the per-datum losses summed and the metrics combined by suffix.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tinkex.core.errors import InvalidArgumentError
from tinkex.types import CustomLossInput, Datum

PerDatumLossFn = Callable[..., "tuple[Any, Mapping[str, Any]]"]
"""``fn(logprobs, *inputs) -> (loss, metrics)`` on one datum's tensors."""


@dataclass(frozen=True)
class LossHandle:
    """A loss made by ``ServiceClient.create_custom_loss``; pass it to ``forward_backward_custom``."""

    name: str
    inputs: tuple[CustomLossInput, ...]
    """``logprobs`` first, then the ``loss_fn_inputs`` keys the loss reads, with their ranks."""
    session_id: str
    fn: PerDatumLossFn = field(repr=False, compare=False)
    loss_id: str | None = None
    """The server's id of an uploaded loss; None: it runs client-side."""

    @property
    def input_names(self) -> tuple[str, ...]:
        """The ``loss_fn_inputs`` keys the loss reads, in the order it takes them."""
        return tuple(str(loss_input.name) for loss_input in self.inputs[1:])

    def check(self, data: Sequence[Datum]) -> None:
        """Raise unless every datum has each input the loss reads, at its declared rank."""
        logprobs, *rest = self.inputs
        for i, datum in enumerate(data):
            for loss_input, key in [(logprobs, "target_tokens"),
                                    *((x, str(x.name)) for x in rest)]:
                if key not in datum.loss_fn_inputs:
                    raise InvalidArgumentError(f"datum[{i}] has no loss_fn_inputs[{key!r}], which loss "
                                     f"{self.name!r} takes")
                shape = datum.loss_fn_inputs[key].shape
                rank = 1 if shape is None else len(shape)
                if rank != loss_input.rank:
                    raise InvalidArgumentError(f"datum[{i}] loss_fn_inputs[{key!r}] has rank {rank}, but "
                                     f"loss {self.name!r} declared rank {loss_input.rank}")

    def batch_loss(self) -> Callable[[list[Datum], list[Any]], tuple[Any, dict[str, float]]]:
        """The handle as a batch loss for :func:`tinkex.custom_loss.forward_backward_custom`."""
        def loss(data: list[Datum], logprobs: list[Any]) -> tuple[Any, dict[str, float]]:
            import torch

            total: Any = 0.0
            sums: dict[str, float] = {}
            for datum, lp in zip(data, logprobs, strict=True):
                args = [torch.from_numpy(datum.loss_fn_inputs[name].to_numpy())
                        for name in self.input_names]
                value, metrics = self.fn(lp, *args)
                total = total + value
                for key, metric in (metrics or {}).items():
                    sums[key] = sums.get(key, 0.0) + float(metric)
            count = max(1, len(data))
            combined = {key: (value / count if key.endswith(":mean") else value)
                        for key, value in sums.items()}
            return total, combined

        return loss


def make_handle(fn: PerDatumLossFn, input_ranks: Mapping[str, int],
                session_id: str) -> LossHandle:
    """Check ``fn``'s parameters against ``input_ranks`` and wrap it in a handle."""
    params = [p.name for p in inspect.signature(fn).parameters.values()]
    if not params or params[0] != "logprobs":
        raise InvalidArgumentError(f"a custom loss takes logprobs first; {_name(fn)} takes {params}")
    missing = [p for p in params if p not in input_ranks]
    extra = [k for k in input_ranks if k not in params]
    if missing or extra:
        raise InvalidArgumentError(f"input_ranks must give exactly the parameters of {_name(fn)}: "
                         f"missing {missing}, unknown {extra}")
    bad = {k: r for k, r in input_ranks.items() if r not in (0, 1, 2)}
    if bad:
        raise InvalidArgumentError(f"input ranks must be 0, 1 or 2, not {bad}")
    inputs = tuple(CustomLossInput(name=p, rank=input_ranks[p]) for p in params)
    return LossHandle(name=_name(fn), inputs=inputs, session_id=session_id, fn=fn)


def _name(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__name__", type(fn).__name__))
