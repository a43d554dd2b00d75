"""Uploaded custom losses: create_custom_loss, and forward_backward with loss_fn="custom".

A loss belongs to the session that uploaded it (``<session>:loss:<seq>``) and
runs only for that session's models. A pass with it runs the model forward,
evaluates the graph on each datum (loss, gradient with respect to the
logprobs, metrics), then, for forward_backward, backpropagates that gradient
as a per-token weighted cross-entropy (``-sum(w * logprobs)`` with ``w = -grad``
has exactly that gradient) — the same two passes the official client makes
when it runs a custom loss itself.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

import numpy as np

from tinkex import types as T
from tinkex.emulator.compute.model import Datum
from tinkex.emulator.compute.model.graph_loss import GraphError, build
from tinkex.emulator.errors import HTTPProblem, UserError, not_found
from tinkex.emulator.state.ledger import CustomLoss
from tinkex.emulator.state.store import Run

from ..services import Services
from .registry import Call, handles

CUSTOM = "custom"


@handles("create_custom_loss")
def create_custom_loss(s: Services, call: Call) -> T.UntypedAPIFuture:
    body: T.CreateCustomLossRequest = call.body
    s.session(call.owner, body.session_id)
    loss_id = f"{body.session_id}:loss:{body.custom_loss_seq_id}"
    inputs = [i.model_dump(mode="json") for i in body.inputs]
    graph = body.graph.model_dump(mode="json")

    def work() -> T.CreateCustomLossResponse:
        try:
            build(body.name, inputs, graph)
        except GraphError as e:
            raise UserError(f"custom loss {body.name!r}: {e}") from None
        s.ledger.add_custom_loss(CustomLoss(loss_id, call.owner, body.session_id, body.name,
                                            inputs, graph))
        return T.CreateCustomLossResponse(loss_id=loss_id, type="create_custom_loss")

    record = s.submit(call.owner, "CreateCustomLoss", work, key=("loss", loss_id),
                      session_id=body.session_id, target=loss_id)
    return s.future(record)


def loss_for(s: Services, run: Run, config: dict[str, Any] | None) -> CustomLoss:
    """The uploaded loss a pass names; 400/404 when it is missing or another session's."""
    loss_id = (config or {}).get("loss_id")
    if not isinstance(loss_id, str):
        raise HTTPProblem(400, 'loss_fn "custom" needs loss_fn_config {"loss_id": <id from '
                               'create_custom_loss>}')
    loss = s.ledger.custom_loss(loss_id)
    if loss is None or loss.owner != run.owner:
        raise not_found("custom loss", loss_id)
    if loss.session_id != run.session_id:
        raise HTTPProblem(400, f"custom loss {loss_id!r} belongs to another session")
    return loss


def run_custom(model: Any, batch: list[Datum], loss: CustomLoss, backward: bool
               ) -> tuple[list[dict[str, np.ndarray]], dict[str, float]]:
    graph = build(loss.name, loss.inputs, loss.graph)
    names = graph.input_names[1:]
    probe = [dataclasses.replace(d, loss_fn_inputs={
        **d.loss_fn_inputs, "weights": np.zeros(len(d.tokens))}) for d in batch]
    outputs, _ = model.forward(probe, "cross_entropy", None)
    total = 0.0
    sums: defaultdict[str, float] = defaultdict(float)
    counts: defaultdict[str, int] = defaultdict(int)
    weighted = []
    for i, (datum, out) in enumerate(zip(batch, outputs, strict=True)):
        missing = [n for n in names if n not in datum.loss_fn_inputs]
        if missing:
            raise UserError(f"datum {i} has no loss_fn_inputs {missing} (loss {loss.name!r})")
        try:
            value, grad, metrics = graph(np.asarray(out["logprobs"], np.float64),
                                         {n: datum.loss_fn_inputs[n] for n in names})
        except (GraphError, ValueError, TypeError, IndexError) as e:
            raise UserError(f"custom loss {loss.name!r} failed on datum {i}: {e}") from None
        total += value
        for key, metric in metrics.items():
            sums[key] += metric
            counts[key] += 1
        weighted.append(dataclasses.replace(datum, loss_fn_inputs={
            **datum.loss_fn_inputs, "weights": -grad}))
    if backward:
        model.forward_backward(weighted, "cross_entropy", None)
    reduced = {key: (value / counts[key] if key.endswith(":mean") else value)
               for key, value in sums.items()}
    return outputs, {"loss:sum": total, **reduced}
