"""Sample from freshly trained weights: ephemeral snapshot, or a named sampler checkpoint.

``save_weights_and_get_sampling_client()`` snapshots the current weights
without creating a checkpoint and returns a client that samples them; the
sampler knows its base model and tokenizer. ``save_weights_for_sampler(name)``
instead persists ``tinker://.../sampler_weights/<name>`` (optionally with a
TTL), which any client can open with ``create_sampling_client(model_path=...)``.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/save_weights_and_sample.py
"""

from __future__ import annotations

import os

import numpy as np

import tinkex
from tinkex import types
from tinkex.tokenizers import Tokenizer

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
TEXT = "abcabcabcabcabcabcabcabc"


def main() -> None:
    with tinkex.ServiceClient() as service:
        training = service.create_lora_training_client(base_model=BASE_MODEL, rank=8, seed=0)
        tokenizer: Tokenizer = training.get_tokenizer()
        tokens = tokenizer.encode(TEXT, add_special_tokens=True)
        datum = types.Datum(
            model_input=types.ModelInput.from_ints(tokens[:-1]),
            loss_fn_inputs={
                "target_tokens": types.TensorData.from_numpy(np.asarray(tokens[1:], np.int64)),
                "weights": types.TensorData.from_numpy(np.ones(len(tokens) - 1, np.float32)),
            })
        # Learn the repeating pattern. The futures are not awaited: the server runs a model's
        # requests in submission order, so the save below sees all 15 steps.
        for _ in range(15):
            training.forward_backward([datum], "cross_entropy")
            training.optim_step(types.AdamParams(learning_rate=2e-2))

        prompt = types.ModelInput.from_ints(tokenizer.encode("abcab", add_special_tokens=True))
        greedy = types.SamplingParams(max_tokens=12, temperature=0.0)

        # 1. Ephemeral: no checkpoint, just a sampler of the current weights.
        sampler = training.save_weights_and_get_sampling_client()
        sampler_tokenizer: Tokenizer = sampler.get_tokenizer()
        text = sampler_tokenizer.decode(
            sampler.sample(prompt, num_samples=1, sampling_params=greedy).result()
            .sequences[0].tokens)
        print(f"ephemeral sampler {sampler.sampling_session_id} "
              f"(base {sampler.get_base_model()}): 'abcab' -> {text!r}")

        # 2. Persisted: a named sampler checkpoint that expires in a day, opened by path.
        saved = training.save_weights_for_sampler("pattern", ttl_seconds=24 * 3600).result()
        by_path = service.create_sampling_client(model_path=saved.path)
        persisted = tokenizer.decode(
            by_path.sample(prompt, num_samples=1, sampling_params=greedy).result()
            .sequences[0].tokens)
        print(f"sampler from {saved.path}: 'abcab' -> {persisted!r}")
        if persisted != text:
            raise SystemExit("the two samplers of the same weights disagree")
        print("both samplers serve the trained weights")


if __name__ == "__main__":
    main()
