import tinkex as tinker
from tinkex import types

__doc__ = """A script in the official Tinker SDK's synchronous style, running unchanged on tinkex.

Everything below the two imports is written exactly as for ``import tinker``:
ServiceClient, a LoRA training client, forward_backward + optim_step with
``.result()``, Datums built from plain lists, ``save_weights_and_get_sampling_client``,
sampling, and listing checkpoints with
``service_client.create_rest_client().list_checkpoints(run_id).result()``.
Like many such scripts it never closes the ServiceClient; it still exits promptly.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/official_style.py
"""

import os
from typing import Any

import numpy as np

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")

EXAMPLES = [
    {"input": "hello world", "output": "ellohay orldway"},
    {"input": "good morning", "output": "oodgay orningmay"},
    {"input": "happy cat", "output": "appyhay atcay"},
    {"input": "big dog", "output": "igbay ogday"},
    {"input": "red fox", "output": "edray oxfay"},
]


def process_example(example: dict[str, str], tokenizer: Any) -> types.Datum:
    prompt = f"English: {example['input']}\nPig Latin:"
    prompt_tokens = tokenizer.encode(prompt, add_special_tokens=True)
    completion_tokens = tokenizer.encode(f" {example['output']}\n", add_special_tokens=False)
    tokens = prompt_tokens + completion_tokens
    # Only the completion is trained on.
    weights = [0] * len(prompt_tokens) + [1] * len(completion_tokens)
    loss_fn_inputs: dict[str, Any] = dict(weights=weights[1:], target_tokens=tokens[1:])
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens=tokens[:-1]),
        loss_fn_inputs=loss_fn_inputs,
    )


def main() -> None:
    service_client = tinker.ServiceClient()
    training_client = service_client.create_lora_training_client(base_model=BASE_MODEL, rank=16)
    tokenizer = training_client.get_tokenizer()

    processed_examples = [process_example(ex, tokenizer) for ex in EXAMPLES]

    losses = []
    for step in range(12):
        fwdbwd_future = training_client.forward_backward(processed_examples, "cross_entropy")
        optim_future = training_client.optim_step(types.AdamParams(learning_rate=1e-2))
        fwdbwd_result = fwdbwd_future.result()
        optim_future.result()

        logprobs = np.concatenate(
            [output["logprobs"].tolist() for output in fwdbwd_result.loss_fn_outputs])
        weights = np.concatenate(
            [example.loss_fn_inputs["weights"].tolist() for example in processed_examples])
        loss = -np.dot(logprobs, weights) / weights.sum()
        losses.append(float(loss))
        print(f"Step {step}: loss per token {loss:.4f}")

    training_client.save_state(name="pig-latin-final").result()
    sampling_client = training_client.save_weights_and_get_sampling_client(name="pig-latin")

    prompt = types.ModelInput.from_ints(tokenizer.encode("English: big cat\nPig Latin:"))
    params = types.SamplingParams(max_tokens=20, temperature=0.0, stop=["\n"])
    result = sampling_client.sample(prompt=prompt, sampling_params=params, num_samples=2).result()
    print("Responses:")
    for i, seq in enumerate(result.sequences):
        print(f"{i}: {tokenizer.decode(seq.tokens)!r}")

    rest_client = service_client.create_rest_client()
    checkpoints = rest_client.list_checkpoints(training_client.model_id).result()
    for checkpoint in checkpoints.checkpoints:
        print(f"Checkpoint {checkpoint.checkpoint_id}: {checkpoint.tinker_path}")

    assert losses[-1] < losses[0], "training did not reduce the loss"
    print(f"Official-style run finished: loss {losses[0]:.4f} -> {losses[-1]:.4f}, "
          f"{len(checkpoints.checkpoints)} checkpoint(s)")


if __name__ == "__main__":
    main()
