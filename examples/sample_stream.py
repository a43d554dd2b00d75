"""Streaming sampling: print each token the moment the server generates it.

``SamplingClient.sample_stream`` sends one sampling request and returns a
stream of events read from the response as they arrive: a ``token`` event per
generated token, then a ``done`` event with the stop reason. Leaving the loop
early closes the connection. (The route is the emulator's; the official
service may not offer it.)

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/sample_stream.py
"""

from __future__ import annotations

import os
import sys
import time

import tinkex
from tinkex import types

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")


def main() -> None:
    with tinkex.ServiceClient() as service:
        sampler = service.create_sampling_client(base_model=BASE_MODEL)
        tokenizer = sampler.get_tokenizer()
        prompt = types.ModelInput.from_ints(
            tokenizer.encode("Once upon a time", add_special_tokens=False))
        params = types.SamplingParams(max_tokens=24, temperature=0.7, seed=3)
        started = time.monotonic()
        first_at: float | None = None
        tokens: list[int] = []
        for event in sampler.sample_stream(prompt, params):
            if event.type == types.SampleStreamEventType.token and event.token is not None:
                first_at = first_at or time.monotonic() - started
                tokens.append(event.token)
                sys.stdout.write(tokenizer.decode([event.token], skip_special_tokens=True))
                sys.stdout.flush()
            elif event.type == types.SampleStreamEventType.done:
                print(f"\n[{event.num_tokens} tokens, stopped by {event.stop_reason}; "
                      f"first token after {1000 * (first_at or 0):.0f} ms]")
        # Early exit: take three tokens, then stop reading (the connection is released).
        with sampler.sample_stream(prompt, params) as stream:
            head = [e.token for e, _ in zip(stream, range(3), strict=False)]
        print(f"streamed {len(tokens)} tokens; the first three again: {head == tokens[:3]}")


if __name__ == "__main__":
    main()
