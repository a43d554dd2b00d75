"""A LoRA training loop: tokenize text, forward_backward + optim_step, save, sample.

Shows ``create_lora_training_client``, building ``Datum`` objects for next-token
prediction, pipelining (both calls are submitted before either result is
awaited), ``save_weights_for_sampler`` and sampling from the trained weights.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/training_loop.py

Knobs (environment): ``TINKER_BASE_MODEL`` (default ``tinkex/tiny-lm``),
``TINKER_STEPS`` (default 8), ``TINKER_SAMPLE_AFTER_TRAIN`` (default 1).
"""

from __future__ import annotations

import os
import time

import numpy as np

import tinkex
from tinkex import types
from tinkex.tokenizers import Tokenizer

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
STEPS = int(os.environ.get("TINKER_STEPS", "8"))
SAMPLE_AFTER_TRAIN = os.environ.get("TINKER_SAMPLE_AFTER_TRAIN", "1") != "0"

TEXTS = [
    "The cat sat on the mat.",
    "The dog sat on the log.",
    "The bird sat on the wire.",
    "The fox sat on the box.",
]


def make_datum(tokens: list[int]) -> types.Datum:
    """Next-token prediction: input position i predicts token i + 1; every target counts."""
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={
            "target_tokens": types.TensorData.from_numpy(np.asarray(tokens[1:], dtype=np.int64)),
            "weights": types.TensorData.from_numpy(np.ones(len(tokens) - 1, dtype=np.float32)),
        },
    )


def loss_per_token(output: types.ForwardBackwardOutput, batch: list[types.Datum]) -> float:
    """cross_entropy reports ``loss:sum`` (summed over weighted tokens); normalise it."""
    total_weight = sum(float(d.loss_fn_inputs["weights"].to_numpy().sum()) for d in batch)
    return output.metrics["loss:sum"] / total_weight


def main() -> None:
    with tinkex.ServiceClient() as service:
        training = service.create_lora_training_client(base_model=BASE_MODEL, rank=16, seed=0)
        tokenizer: Tokenizer = training.get_tokenizer()
        batch = [make_datum(tokenizer.encode(text, add_special_tokens=True)) for text in TEXTS]
        print(f"model {training.model_id} on {BASE_MODEL}: {len(batch)} datums")

        adam = types.AdamParams(learning_rate=5e-3)
        losses: list[float] = []
        for step in range(STEPS):
            started = time.perf_counter()
            # Submit both calls, then wait: the server runs them in order, back to back.
            fwd_bwd = training.forward_backward(batch, loss_fn="cross_entropy")
            optim = training.optim_step(adam)
            losses.append(loss_per_token(fwd_bwd.result(), batch))
            optim.result()
            print(f"step {step:2d}: loss/token {losses[-1]:.4f} "
                  f"({(time.perf_counter() - started) * 1000:.0f} ms)")

        saved = training.save_weights_for_sampler("training-loop-final").result()
        print(f"sampler weights saved at {saved.path}")
        print(f"loss fell from {losses[0]:.4f} to {losses[-1]:.4f}")
        if not losses[-1] < losses[0]:
            raise SystemExit("training did not reduce the loss")

        if SAMPLE_AFTER_TRAIN:
            sampler = training.create_sampling_client(saved.path)
            prompt = types.ModelInput.from_ints(tokenizer.encode("The cat", add_special_tokens=True))
            params = types.SamplingParams(max_tokens=20, temperature=0.0, stop=["\n"])
            sample = sampler.sample(prompt, num_samples=1, sampling_params=params).result()
            print(f"sample after training: {tokenizer.decode(sample.sequences[0].tokens)!r}")


if __name__ == "__main__":
    main()
