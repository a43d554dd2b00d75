"""Train on a loss computed in this process: a weighted, clipped NLL with a numpy gradient.

``forward_backward_custom`` runs a forward pass on the server, hands each
datum's per-token logprobs to ``loss_fn`` here, and sends ``d loss / d logprobs``
back for the backward pass. With ``backend="numpy"`` the loss function returns
``(loss, metrics, grads)``: the gradient is written by hand (no torch needed).

The loss: per token ``w * min(-logprob, CLIP)``, summed and divided by the total
weight. Tokens whose NLL is above ``CLIP`` are "clipped": they contribute a
constant, so their gradient is 0. The analytic gradient is checked against
finite differences before training.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/custom_loss_training.py
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

import tinkex
from tinkex import types
from tinkex.tokenizers import Tokenizer

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
STEPS = int(os.environ.get("TINKER_STEPS", "5"))
CLIP = 6.0  # nats: a token this unlikely stops pulling on the weights

Floats = NDArray[np.floating[Any]]


def make_datum(tokens: list[int], weights: Sequence[float]) -> types.Datum:
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={
            "target_tokens": types.TensorData.from_numpy(np.asarray(tokens[1:], dtype=np.int64)),
            "weights": types.TensorData.from_numpy(np.asarray(weights, dtype=np.float32)),
        },
    )


def clipped_nll(data: Sequence[types.Datum], logprobs: Sequence[Floats]
                ) -> tuple[float, dict[str, float], list[Floats]]:
    """Weighted NLL clipped at CLIP; returns (loss, metrics, d loss / d logprobs per datum)."""
    weights = [d.loss_fn_inputs["weights"].to_numpy().astype(np.float32) for d in data]
    total_weight = float(sum(w.sum() for w in weights))
    loss = 0.0
    clipped = 0
    grads: list[Floats] = []
    for w, lp in zip(weights, logprobs, strict=True):
        nll = -lp
        inside = nll < CLIP
        loss += float(np.sum(w * np.minimum(nll, CLIP)))
        clipped += int(np.sum(~inside & (w > 0)))
        # d/d lp of w * min(-lp, CLIP) is -w where the NLL is below the clip, else 0.
        grads.append(np.where(inside, -w, 0.0).astype(np.float32) / total_weight)
    metrics = {"clipped_tokens:sum": float(clipped),
               "mean_nll:mean": float(-np.concatenate(logprobs).mean())}
    return loss / total_weight, metrics, grads


def check_gradient(data: Sequence[types.Datum], logprobs: Sequence[Floats]) -> float:
    """Largest gap between the analytic gradient and central finite differences."""
    _, _, grads = clipped_nll(data, logprobs)
    eps = 1e-3
    worst = 0.0
    for i, lp in enumerate(logprobs):
        for t in range(len(lp)):
            up = [x.astype(np.float64).copy() for x in logprobs]
            down = [x.astype(np.float64).copy() for x in logprobs]
            up[i][t] += eps
            down[i][t] -= eps
            numeric = (clipped_nll(data, up)[0] - clipped_nll(data, down)[0]) / (2 * eps)
            worst = max(worst, abs(numeric - float(grads[i][t])))
    return worst


def main() -> None:
    with tinkex.ServiceClient() as service:
        training = service.create_lora_training_client(base_model=BASE_MODEL, rank=8, seed=0)
        tokenizer: Tokenizer = training.get_tokenizer()

        # Weight the answer after "A:" twice as much as the question.
        batch: list[types.Datum] = []
        for question, answer in [("Q: 2+2?", " A: 4."), ("Q: 3+3?", " A: 6."),
                                 ("Q: red+blue?", " A: purple.")]:
            q = tokenizer.encode(question, add_special_tokens=True)
            a = tokenizer.encode(answer, add_special_tokens=False)
            tokens = q + a
            batch.append(make_datum(tokens, [1.0] * (len(q) - 1) + [2.0] * len(a)))

        # Check the hand-written gradient on the model's current logprobs.
        forward = training.forward(batch, "cross_entropy").result()
        logprobs = [out["logprobs"].to_numpy().astype(np.float32) for out in forward.loss_fn_outputs]
        print(f"gradient check: max |analytic - numeric| = {check_gradient(batch, logprobs):.2e}")

        adam = types.AdamParams(learning_rate=5e-3)
        first = last = 0.0
        for step in range(STEPS):
            result = training.forward_backward_custom(batch, clipped_nll, backend="numpy")
            optim = training.optim_step(adam)
            metrics = result.result().metrics
            optim.result()
            last = metrics["loss:sum"]
            first = first or last
            print(f"step {step}: custom loss {last:.4f}, mean NLL {metrics['mean_nll:mean']:.3f}, "
                  f"clipped tokens {metrics['clipped_tokens:sum']:.0f}")
        print(f"custom loss fell from {first:.4f} to {last:.4f}")
        if not last < first:
            raise SystemExit("the custom loss did not decrease")


if __name__ == "__main__":
    main()
