"""Chunking of large batches and AdamW options (weight decay, gradient clipping).

A ``forward_backward`` batch is split into requests of at most 1024 datums and
about 5 MB (estimated at 10 bytes per token or loss-input element). This script
builds a batch just over that limit, previews the split with
``tinkex.chunking.split_batch``, trains on it, and checks that the combined
result has one output per datum and a ``loss:sum`` equal to the sum over both
chunks (metrics are combined by the suffix after their colon: ``sum`` adds,
``mean`` averages weighted by chunk size, and so on).

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/adam_and_chunking.py
"""

from __future__ import annotations

import os

import numpy as np

import tinkex
from tinkex import chunking, types

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
NUM_DATUMS = int(os.environ.get("TINKER_NUM_DATUMS", "1100"))  # > 1024: two chunks


def make_batch(count: int, seed: int = 0) -> list[types.Datum]:
    """``count`` short random byte sequences (8-15 tokens), every target weighted 1."""
    rng = np.random.default_rng(seed)
    batch = []
    for _ in range(count):
        tokens = rng.integers(97, 123, size=int(rng.integers(8, 16)))  # lowercase letters
        batch.append(types.Datum(
            model_input=types.ModelInput.from_ints(tokens[:-1]),
            loss_fn_inputs={
                "target_tokens": types.TensorData.from_numpy(tokens[1:]),
                "weights": types.TensorData.from_numpy(np.ones(len(tokens) - 1, np.float32)),
            }))
    return batch


def preview_byte_limit() -> None:
    """Few but long datums are split by size instead: 4 x 50k tokens is ~6 MB estimated."""
    long = [types.Datum(
        model_input=types.ModelInput.from_ints(np.zeros(50_000, np.int64)),
        loss_fn_inputs={"target_tokens": types.TensorData.from_numpy(np.zeros(50_000, np.int64)),
                        "weights": types.TensorData.from_numpy(np.ones(50_000, np.float32))})
            for _ in range(4)]
    sizes = [len(c) for c in chunking.split_batch(long)]
    print(f"byte limit preview: 4 datums of ~{chunking.estimate_datum_bytes(long[0]) / 1e6:.1f} MB "
          f"-> requests of {sizes} datums (not sent)")


def main() -> None:
    preview_byte_limit()
    batch = make_batch(NUM_DATUMS)
    chunks = chunking.split_batch(batch)
    limits = chunking.chunk_limits()  # the manifest's chunking of forward / forward_backward
    estimated = sum(chunking.estimate_datum_bytes(d) for d in batch)
    print(f"{len(batch)} datums, ~{estimated / 1e6:.2f} MB estimated -> {len(chunks)} requests of "
          f"{[len(c) for c in chunks]} datums (limits: {limits.max_items} datums, "
          f"{limits.max_bytes / 1e6:.0f} MB)")

    adam = types.AdamParams(learning_rate=1e-2, beta1=0.9, beta2=0.95, eps=1e-8,
                            weight_decay=0.01, grad_clip_norm=1.0)
    with tinkex.ServiceClient() as service:
        training = service.create_lora_training_client(base_model=BASE_MODEL, rank=8, seed=0)

        losses: list[float] = []
        for step in range(3):
            fwd_bwd = training.forward_backward(batch, "cross_entropy")
            optim = training.optim_step(adam)
            output = fwd_bwd.result()
            optim.result()

            # The combined result covers every datum, in order, and loss:sum adds the chunks' sums.
            per_datum = [-float(np.dot(out["logprobs"].to_numpy(), d.loss_fn_inputs["weights"]
                                       .to_numpy())) for out, d in zip(output.loss_fn_outputs,
                                                                       batch, strict=True)]
            if len(output.loss_fn_outputs) != len(batch):
                raise SystemExit("the combined output lost datums")
            if not np.isclose(output.metrics["loss:sum"], sum(per_datum), rtol=1e-4):
                raise SystemExit("loss:sum is not the sum over both chunks")
            tokens = sum(len(d.model_input.to_ints()) for d in batch)
            losses.append(output.metrics["loss:sum"] / tokens)
            print(f"step {step}: {len(output.loss_fn_outputs)} outputs, "
                  f"loss:sum {output.metrics['loss:sum']:.1f} (= sum over chunks), "
                  f"loss/token {losses[-1]:.4f}")
        print(f"chunked training with AdamW(weight_decay={adam.weight_decay}, "
              f"grad_clip_norm={adam.grad_clip_norm}): loss/token {losses[0]:.4f} -> {losses[-1]:.4f}")


if __name__ == "__main__":
    main()
