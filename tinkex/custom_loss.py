"""Client-side custom losses: two server passes around a loss computed locally.

1. ``forward`` with ``cross_entropy`` (weights 0) returns each datum's per-token
   logprobs of its ``target_tokens``.
2. ``loss_fn(data, logprobs)`` computes the loss and d loss / d logprobs.
3. ``forward_backward`` with ``cross_entropy`` and weights ``-d loss/d logprobs``
   back-propagates exactly that gradient, since the server's loss is
   ``sum(-logprob * weight)``.

Both passes' ``seq_id``s are reserved when the call is made, so later calls
(e.g. ``optim_step``) stay behind the backward pass. The second pass is sent
from a callback when the first finishes: no thread blocks in between.

``loss_fn`` contract:

- torch backend (default when torch is installed): ``loss_fn(data, logprobs)``
  gets one float32 tensor per datum (``requires_grad``) and returns
  ``(loss_tensor, metrics)``.
- numpy backend: ``loss_fn(data, logprobs)`` gets numpy arrays and returns
  ``(loss, metrics, grads)`` with one gradient array per datum.

The result's ``loss:sum`` is the custom loss; the server's surrogate loss is
reported as ``surrogate_loss:sum``; the loss function's metrics are merged in.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tinkex._context import relay_queue_state
from tinkex._lazy import LazyModule
from tinkex.chunking import as_datums
from tinkex.core.errors import InvalidArgumentError
from tinkex.core.futures import APIFuture
from tinkex.types import Datum, ForwardBackwardOutput, TensorData
from tinkex.types._mixins import value_count

if TYPE_CHECKING:
    import numpy as np

    from tinkex.training_client import TrainingClient
else:  # loaded by the first custom-loss pass
    np = LazyModule("numpy")


def _targets(datum: Datum) -> TensorData:
    try:
        return datum.loss_fn_inputs["target_tokens"]
    except KeyError:
        raise InvalidArgumentError("forward_backward_custom needs target_tokens in every datum") from None


def _with_weights(datum: Datum, weights: np.ndarray) -> Datum:
    targets = _targets(datum)
    return Datum(model_input=datum.model_input,
                 loss_fn_inputs={"target_tokens": targets,
                                 "weights": TensorData.from_numpy(weights.astype(np.float32))})


def _backend(name: str) -> str:
    if name == "auto":
        return "torch" if importlib.util.find_spec("torch") is not None else "numpy"
    if name not in ("torch", "numpy"):
        raise InvalidArgumentError(f"backend must be 'auto', 'torch' or 'numpy', not {name!r}")
    return name


def evaluate(loss_fn: Callable[..., Any], data: list[Datum], logprobs: list[np.ndarray],
             backend: str) -> tuple[float, dict[str, float], list[np.ndarray]]:
    """Run the user's loss; return (loss, metrics, d loss / d logprobs per datum)."""
    if backend == "torch":
        import torch

        tensors = [torch.tensor(lp, dtype=torch.float32, requires_grad=True) for lp in logprobs]
        loss, metrics = loss_fn(data, tensors)
        loss.backward()
        grads = [t.grad.detach().numpy() if t.grad is not None else np.zeros_like(lp)
                 for t, lp in zip(tensors, logprobs, strict=True)]
        return float(loss.detach()), dict(metrics or {}), grads
    out = loss_fn(data, logprobs)
    if not (isinstance(out, tuple) and len(out) == 3):
        raise TypeError("a numpy custom loss must return (loss, metrics, grads): grads are "
                        "d loss / d logprobs, one array per datum (or install torch)")
    loss, metrics, grads = out
    grads = [np.asarray(g, dtype=np.float32) for g in grads]
    if len(grads) != len(logprobs) or any(g.shape != lp.shape
                                          for g, lp in zip(grads, logprobs, strict=True)):
        raise InvalidArgumentError("grads must hold one array per datum, shaped like its logprobs")
    return float(loss), dict(metrics or {}), grads


def forward_backward_custom(client: TrainingClient, data: Sequence[Datum | Mapping[str, Any]],
                            loss_fn: Callable[..., Any], *, backend: str = "auto"
                            ) -> APIFuture[ForwardBackwardOutput]:
    which = _backend(backend)
    datums = as_datums(data)
    zeros = [_with_weights(d, np.zeros(value_count(_targets(d)))) for d in datums]
    # Both passes chunk alike (the backward pass reuses the forward's seq_id count),
    # even when they travel in different encodings.
    chunks = client.split_batch(zeros, "forward", "forward_backward")
    n = len(chunks)
    block = client.reserve_seq_ids(2 * n)
    result: APIFuture[ForwardBackwardOutput] = APIFuture()
    numbers = list(block.numbers)

    def backward(forward_done: Any) -> None:
        try:
            fwd: ForwardBackwardOutput = forward_done.result()
            logprobs = [np.asarray(out["logprobs"].to_numpy(), dtype=np.float32)
                        for out in fwd.loss_fn_outputs]
            loss, metrics, grads = evaluate(loss_fn, datums, logprobs, which)
            weighted = [_with_weights(d, -g) for d, g in zip(datums, grads, strict=True)]
            bwd_chunks = client.split_batch(weighted, "forward", "forward_backward")
            if len(bwd_chunks) != n:  # same sizes as the forward pass, so this cannot differ
                raise RuntimeError("the backward pass chunked differently from the forward pass")
            bwd = client.submit_chunks("forward_backward", bwd_chunks,
                                       "cross_entropy", None, block, numbers[n:])
        except BaseException as exc:
            block.release_unclaimed()
            result.settle(exc=exc)
            return
        block.release_unclaimed()
        relay_queue_state(bwd, result)

        def finished(done: Any) -> None:
            exc = done.exception()
            if exc is not None:
                result.settle(exc=exc)
                return
            out: ForwardBackwardOutput = done.result()
            merged = dict(out.metrics)
            if "loss:sum" in merged:
                merged["surrogate_loss:sum"] = merged.pop("loss:sum")
            merged.update(metrics)
            merged["loss:sum"] = loss
            result.settle(out.model_copy(update={"metrics": merged}))

        bwd.add_done_callback(finished)

    try:
        forward = client.submit_chunks("forward", chunks, "cross_entropy", None,
                                       block, numbers[:n])
    except BaseException:
        block.release_unclaimed()
        raise
    relay_queue_state(forward, result)
    forward.add_done_callback(backward)
    return result
