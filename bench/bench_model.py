"""Benchmark the emulator's numpy language model (``tinkex.emulator.model``).

Prints parameter counts and the median wall time of

* ``forward_backward`` (cross_entropy) on 64 sequences x 128 tokens,
* ``forward_backward`` on 8 sequences x 64 tokens,
* ``optim_step``,
* sampling 16 sequences x 64 new tokens (one prompt, ``num_samples=16``),

for ``tinkex/tiny-lm`` (override with ``--preset``).  Run: ``python bench/bench_model.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from tinkex.emulator.compute.model import Datum, LoraConfig, TrainableModel, encode


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def random_batch(rng: np.random.Generator, n: int, length: int) -> list[Datum]:
    return [
        Datum(
            list(rng.integers(0, 256, length)),
            {"target_tokens": rng.integers(0, 256, length), "weights": np.ones(length, np.float32)},
        )
        for _ in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tinkex/tiny-lm")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    model = TrainableModel(args.preset, LoraConfig(rank=args.rank))
    cfg = model.config
    print(
        f"preset {cfg.name}: d_model={cfg.d_model} n_layers={cfg.n_layers} "
        f"n_heads={cfg.n_heads} d_mlp={cfg.d_mlp} max_seq_len={cfg.max_seq_len}"
    )
    print(f"base params:           {model.num_base_params:>10,}")
    print(f"LoRA params (rank {args.rank:>2}): {model.num_trainable_params:>10,}")

    rng = np.random.default_rng(0)
    big, small = random_batch(rng, 64, 128), random_batch(rng, 8, 64)
    prompt = encode("Once upon a time", bos=True)
    results = {
        "forward_backward 64x128": median_time(lambda: model.forward_backward(big), args.repeats),
        "forward_backward 8x64": median_time(lambda: model.forward_backward(small), args.repeats),
        "forward 64x128": median_time(lambda: model.forward(big), args.repeats),
        "optim_step": median_time(lambda: model.optim_step({"learning_rate": 1e-4}), args.repeats),
        "sample 16x64": median_time(
            lambda: model.sample(prompt, 64, num_samples=16, seed=0, stop=[]), args.repeats
        ),
    }
    for name, seconds in results.items():
        print(f"{name:<26} {seconds * 1000:8.1f} ms (median of {args.repeats})")


if __name__ == "__main__":
    main()
