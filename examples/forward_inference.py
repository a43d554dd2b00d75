"""Forward-only inference: per-token logprobs of a text under the model, as numpy arrays.

``TrainingClient.forward`` runs the model without accumulating gradients and
returns, per datum, the logprob of each target token (``loss_fn_outputs[i]
["logprobs"]``, a ``TensorData``; ``.to_numpy()`` converts it). These are the
numbers a custom loss starts from. As a cross-check, the same logprobs are
computed through a sampler with ``SamplingClient.compute_logprobs``.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/forward_inference.py
"""

from __future__ import annotations

import math
import os

import numpy as np

import tinkex
from tinkex import types
from tinkex.tokenizers import Tokenizer

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
TEXTS = ["Hello, world!", "Tinker trains LoRA adapters.", "zzzzzzzzzzzz"]


def make_datum(tokens: list[int]) -> types.Datum:
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={
            "target_tokens": types.TensorData.from_numpy(np.asarray(tokens[1:], dtype=np.int64)),
            "weights": types.TensorData.from_numpy(np.ones(len(tokens) - 1, dtype=np.float32)),
        },
    )


def main() -> None:
    with tinkex.ServiceClient() as service:
        training = service.create_lora_training_client(base_model=BASE_MODEL, rank=8, seed=0)
        tokenizer: Tokenizer = training.get_tokenizer()
        encoded = [tokenizer.encode(text, add_special_tokens=True) for text in TEXTS]

        output = training.forward([make_datum(tokens) for tokens in encoded], "cross_entropy").result()
        print(f"forward: {len(output.loss_fn_outputs)} outputs ({output.loss_fn_output_type}), "
              f"metrics {output.metrics}")
        for text, record in zip(TEXTS, output.loss_fn_outputs, strict=True):
            logprobs = record["logprobs"].to_numpy()
            nll = float(-logprobs.mean())
            print(f"  {text!r:34} {len(logprobs):3d} tokens  mean NLL {nll:.3f}  "
                  f"perplexity {math.exp(nll):8.2f}")

        # Token by token for the first text: which targets the model finds likely.
        first = output.loss_fn_outputs[0]["logprobs"].to_numpy()
        shown = ", ".join(f"{tokenizer.decode([t])!r}:{lp:.2f}"
                          for t, lp in zip(encoded[0][1:], first, strict=True))
        print(f"  per token: {shown}")

        # The same numbers through a sampler: prompt logprobs of the whole sequence.
        sampler = training.save_weights_and_get_sampling_client()
        via_sampler = sampler.compute_logprobs(types.ModelInput.from_ints(encoded[0])).result()
        gap = max(abs(float(a) - float(b)) for a, b in zip(via_sampler[1:], first, strict=True)
                  if a is not None)
        print(f"forward vs compute_logprobs: max difference {gap:.2e}")
        if gap > 1e-3:
            raise SystemExit("forward and compute_logprobs disagree")


if __name__ == "__main__":
    main()
