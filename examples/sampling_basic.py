"""Sample from a base model: tokenize a prompt, sample a few continuations, decode them.

Shows ``ServiceClient.create_sampling_client(base_model=..., retry_config=...)``,
the sampler's tokenizer, ``SamplingParams`` and ``SampleResponse``.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/sampling_basic.py

Knobs (environment): ``TINKER_BASE_MODEL`` (default ``tinkex/tiny-lm``),
``TINKER_PROMPT``, ``TINKER_MAX_TOKENS``, ``TINKER_TEMPERATURE``,
``TINKER_NUM_SAMPLES``.
"""

from __future__ import annotations

import os

import tinkex
from tinkex import types
from tinkex.tokenizers import Tokenizer

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
PROMPT = os.environ.get("TINKER_PROMPT", "The quick brown fox")
MAX_TOKENS = int(os.environ.get("TINKER_MAX_TOKENS", "32"))
TEMPERATURE = float(os.environ.get("TINKER_TEMPERATURE", "0.8"))
NUM_SAMPLES = int(os.environ.get("TINKER_NUM_SAMPLES", "3"))


def main() -> None:
    # ServiceClient() reads TINKER_BASE_URL and TINKER_API_KEY from the environment.
    with tinkex.ServiceClient() as service:
        # Sampling retries a failed sample as a whole; RetryConfig bounds how long it keeps trying.
        retry = tinkex.RetryConfig(retry_delay_base=0.5, progress_timeout=120.0)
        sampler = service.create_sampling_client(base_model=BASE_MODEL, retry_config=retry)
        tokenizer: Tokenizer = sampler.get_tokenizer()

        prompt = types.ModelInput.from_ints(tokenizer.encode(PROMPT))
        params = types.SamplingParams(max_tokens=MAX_TOKENS, temperature=TEMPERATURE, seed=1234)
        print(f"prompt: {PROMPT!r} ({prompt.length} tokens) -> {sampler.get_base_model()}")

        response = sampler.sample(prompt=prompt, num_samples=NUM_SAMPLES,
                                  sampling_params=params).result()
        for i, sequence in enumerate(response.sequences):
            text = tokenizer.decode(sequence.tokens)
            print(f"  [{i}] {len(sequence.tokens):3d} tokens, stop={sequence.stop_reason.value}: "
                  f"{text!r}")
        print(f"sampled {len(response.sequences)} sequences")


if __name__ == "__main__":
    main()
