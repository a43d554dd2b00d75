"""Run by the official ``tinker`` SDK's own interpreter against a tinkex emulator.

Not a pytest module: ``test_official_sdk.py`` starts an emulator and runs this
file with ``TINKER_BASE_URL`` and ``TINKER_API_KEY`` set. It must work with SDK
0.16.1 and 0.24.1 unchanged, so it uses only API both have and builds model
inputs from token ids (no tokenizer download). The last stdout line is
``RESULT <json>`` for the test to check; any failure raises (exit status != 0).
"""

from __future__ import annotations

import json

import tinker
from tinker import types

BASE_MODEL = "tinkex/tiny-lm"
BOS = 256
STEPS = 30
BATCH = 8


def tensor(values: list, dtype: str) -> types.TensorData:
    return types.TensorData(data=values, dtype=dtype, shape=[len(values)])


def main() -> None:
    service = tinker.ServiceClient()
    capabilities = service.get_server_capabilities()
    names = [m.model_name for m in capabilities.supported_models]
    assert BASE_MODEL in names, names

    training = service.create_lora_training_client(base_model=BASE_MODEL, rank=8)
    tokens = [BOS, *b"The quick brown fox jumps over the lazy dog."]
    n = len(tokens) - 1
    datum = types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": tensor(tokens[1:], "int64"),
                        "weights": tensor([1.0] * n, "float32")})

    losses = []
    for _ in range(STEPS):
        fwd_bwd = training.forward_backward([datum] * BATCH, "cross_entropy")
        optim = training.optim_step(types.AdamParams(learning_rate=1e-2))
        output = fwd_bwd.result()
        optim.result()
        assert len(output.loss_fn_outputs) == BATCH
        losses.append(output.metrics["loss:sum"])

    saved = training.save_state("final").result()
    sampler = training.save_weights_and_get_sampling_client()
    prompt = types.ModelInput.from_ints(tokens[:10])
    sampled = sampler.sample(prompt=prompt, num_samples=2,
                             sampling_params=types.SamplingParams(max_tokens=16, temperature=0.0)
                             ).result()
    assert len(sampled.sequences) == 2
    assert all(len(seq.tokens) > 0 for seq in sampled.sequences)

    rest = service.create_rest_client()
    checkpoints = rest.list_checkpoints(training.model_id).result().checkpoints
    ids = [c.checkpoint_id for c in checkpoints]
    assert "weights/final" in ids, ids

    print("RESULT " + json.dumps({
        "first_loss": losses[0], "last_loss": losses[-1], "state_path": saved.path,
        "checkpoints": ids, "sample": bytes(t for t in sampled.sequences[0].tokens
                                            if t < 256).decode("utf-8", "replace")}), flush=True)


if __name__ == "__main__":
    main()
