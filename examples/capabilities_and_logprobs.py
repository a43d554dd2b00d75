"""Server capabilities, model info and prompt logprobs.

``get_server_capabilities`` lists the base models (with context length and
whether they can be trained or sampled). ``TrainingClient.get_info`` describes a
model (name, architecture, tokenizer, LoRA rank). ``SamplingClient.compute_logprobs``
scores a prompt: the log-probability of each token given the ones before it
(``None`` for the first, which has no context).

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/capabilities_and_logprobs.py
"""

from __future__ import annotations

import os

import tinkex
from tinkex import types
from tinkex.tokenizers import Tokenizer

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
PROMPT = os.environ.get("TINKER_PROMPT", "Hello there")


def main() -> None:
    with tinkex.ServiceClient() as service:
        capabilities = service.get_server_capabilities()
        print(f"{len(capabilities.supported_models)} supported models:")
        for model in capabilities.supported_models:
            print(f"  {model.model_name}: context {model.max_context_length}, "
                  f"trainable={model.trainable}, sampleable={model.sampleable}")
        names = [m.model_name for m in capabilities.supported_models]
        if BASE_MODEL not in names:
            raise SystemExit(f"{BASE_MODEL} is not offered by this server ({names})")

        training = service.create_lora_training_client(base_model=BASE_MODEL, rank=4)
        info = training.get_info()
        print(f"model {info.model_id}: name={info.model_data.model_name} "
              f"arch={info.model_data.arch} tokenizer={info.model_data.tokenizer_id} "
              f"lora_rank={info.lora_rank}")

        sampler = service.create_sampling_client(base_model=BASE_MODEL)
        tokenizer: Tokenizer = sampler.get_tokenizer()
        tokens = tokenizer.encode(PROMPT, add_special_tokens=True)
        logprobs = sampler.compute_logprobs(types.ModelInput.from_ints(tokens)).result()
        print(f"prompt logprobs of {PROMPT!r}:")
        for token, logprob in zip(tokens, logprobs, strict=True):
            shown = "   n/a" if logprob is None else f"{logprob:6.2f}"
            print(f"  {tokenizer.decode([token], skip_special_tokens=False)!r:10} {shown}")
        total = sum(lp for lp in logprobs if lp is not None)
        print(f"total prompt logprob {total:.2f} over {len(tokens) - 1} scored tokens")


if __name__ == "__main__":
    main()
