"""Sampling one sequence token by token, for the streaming sampling route.

The same steps as :func:`~tinkex.emulator.compute.model.sampling.sample` with one
sample (same random stream, same stop rules), so a stream and a sample with
the same seed produce the same tokens; each token is yielded as soon as it is
chosen, before the next forward step runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .config import ModelConfig
from .sampling import _KVDecoder, _parse_stop, _validate, choose_tokens
from .transformer import Weights, forward, log_softmax, pad_batch


@dataclass(frozen=True)
class StreamedToken:
    index: int
    token: int
    logprob: float


@dataclass(frozen=True)
class StreamEnd:
    stop_reason: str  # "stop" | "length"
    num_tokens: int


def check_params(cfg: ModelConfig, max_tokens: int, temperature: float, top_k: int,
                 top_p: float) -> None:
    """ValueError for sampling parameters the model refuses (before any token is streamed)."""
    _validate(cfg, max_tokens, temperature, top_k, top_p, 1, 0)


def sample_stream(cfg: ModelConfig, W: Weights, prompt_tokens: Sequence[int | None],
                  max_tokens: int, temperature: float = 1.0, top_k: int = -1,
                  top_p: float = 1.0, seed: int | None = None,
                  stop: Sequence[str | int] | None = None
                  ) -> Iterator[StreamedToken | StreamEnd]:
    """Each generated token in order, then a :class:`StreamEnd`."""
    _validate(cfg, max_tokens, temperature, top_k, top_p, 1, 0)
    stop_ids, stop_strs = _parse_stop(stop)
    ids, image_mask, _ = pad_batch([prompt_tokens], cfg)
    P = ids.shape[1]
    rng = np.random.default_rng(seed)
    logits, cache = forward(cfg, W, ids, image_mask)
    next_logits = logits[0][-1:]
    n_new = min(int(max_tokens), cfg.max_seq_len - P)
    text = bytearray()
    decoder = None
    reason = "length"
    count = 0
    for step in range(n_new):
        chosen = choose_tokens(next_logits, temperature, top_k, top_p, rng)
        tok = int(chosen[0])
        lp = float(log_softmax(next_logits.astype(np.float64))[0, tok])
        yield StreamedToken(step, tok, lp)
        count += 1
        if tok in stop_ids:
            reason = "stop"
        elif stop_strs and tok < 256:
            text.append(tok)
            if any(text.endswith(x) for x in stop_strs):
                reason = "stop"
        if reason == "stop" or step == n_new - 1:
            break
        if decoder is None:
            decoder = _KVDecoder(cfg, W, [(c["k"], c["v"]) for c in cache.layers], 1, P + n_new)
        next_logits = decoder.step(chosen, P + step)
    yield StreamEnd(reason, count)
