"""Regularized custom loss: a base NLL plus weighted penalties, each reported on its own.

``RegularizerPipeline(base_loss, [L2(...), Entropy(...), KLDivergence(...)])`` is a
custom loss for ``forward_backward_custom``: total = base + Σ weightᵢ · Rᵢ, run in
parallel threads, with each term's value, contribution and gradient norm in the
result's metrics (``CustomLossOutput.from_metrics`` turns them back into a report).
The KL term keeps the model close to the logprobs it had before training.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/regularized_training.py
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

import tinkex
from tinkex import types
from tinkex.regularizers import L2, CustomLossOutput, Entropy, KLDivergence, RegularizerPipeline

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
Floats = NDArray[np.floating[Any]]


def nll(data: Sequence[types.Datum], logprobs: Sequence[Floats]
        ) -> tuple[float, dict[str, float], list[Floats]]:
    """Mean negative log-likelihood of the target tokens, with its gradient."""
    n = sum(len(lp) for lp in logprobs)
    loss = -float(sum(lp.sum() for lp in logprobs)) / n
    return loss, {}, [np.full(len(lp), -1.0 / n) for lp in logprobs]


def main() -> None:
    with tinkex.ServiceClient() as service:
        training = service.create_lora_training_client(base_model=BASE_MODEL, rank=8)
        tokenizer = training.get_tokenizer()
        ids = [tokenizer.bos_token_id or 0, *tokenizer.encode("Regularizers keep training calm."),
               tokenizer.eos_token_id or 0]
        data = [types.Datum(model_input=types.ModelInput.from_ints(ids[:-1]),
                            loss_fn_inputs={
                                "target_tokens": types.TensorData.from_numpy(
                                    np.asarray(ids[1:], dtype=np.int64)),
                                "weights": types.TensorData.from_numpy(
                                    np.ones(len(ids) - 1, dtype=np.float32))})]
        before = training.forward(data, "cross_entropy").result()
        reference = [out["logprobs"].to_numpy() for out in before.loss_fn_outputs]
        pipeline = RegularizerPipeline(nll, [L2(weight=0.01), Entropy(weight=0.05),
                                             KLDivergence(reference, weight=0.1)])
        for step in range(4):
            out = training.forward_backward_custom(data, pipeline, backend="numpy").result()
            training.optim_step(types.AdamParams(learning_rate=2e-2)).result()
            report = CustomLossOutput.from_metrics(out.metrics)
            terms = ", ".join(f"{name} {reg.value:.3f} (x{reg.weight:g} = {reg.contribution:.4f},"
                              f" |grad| {reg.grad_norm or 0:.3f})"
                              for name, reg in report.regularizers.items())
            print(f"step {step}: total {report.loss_total:.4f} = base {report.base_loss:.4f} "
                  f"+ {report.regularizer_total:.4f}; {terms}; "
                  f"|grad| {report.total_grad_norm or 0:.3f}")
        print(f"3 regularizers over {step + 1} steps; final total {report.loss_total:.4f}")


if __name__ == "__main__":
    main()
