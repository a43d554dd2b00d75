"""The conformance flow in the API of official SDK 0.38.0, run by that SDK's interpreter.

Not a pytest module: ``test_official_sdk_038.py`` starts an emulator and runs
this file with ``TINKER_BASE_URL`` and ``TINKER_API_KEY`` set. It does what
``official_sdk_flow.py`` does for 0.16/0.24 (train a LoRA on one sentence, save,
sample, list checkpoints) in 0.38's own idiom: creation methods return futures,
``RestClient`` is built directly, and the ``with`` block closes the session
(``sessions/{id}/finish``). Every forward_backward body is protobuf and every
ForwardBackwardOutput / SampleResponse arrives as protobuf, since 0.38 knows no
other way. It also runs a forward-only pass, prompt logprobs with top-k and
``compute_logprobs`` so the official decoder sees NaN holes and top-k sentinel
rows, and it covers a named sampler checkpoint (create_sampling_client by
model_path), an unpickled copy of it (join_sampling_session), and
create_training_client_from_state_with_optimizer (load_weights in create mode,
then get_info). The last stdout line is ``RESULT <json>``; any failure raises.
"""

from __future__ import annotations

import json
import math
import pickle

import tinker
from tinker import types

BASE_MODEL = "tinkex/tiny-lm"
BOS = 256
STEPS = 30
BATCH = 8


def tensor(values: list, dtype: str) -> types.TensorData:
    return types.TensorData(data=values, dtype=dtype, shape=[len(values)])


def main() -> None:
    rest = tinker.RestClient()
    names = [m.model_name for m in rest.get_server_capabilities().result().supported_models]
    assert BASE_MODEL in names, names

    with tinker.ServiceClient() as service:
        training = service.create_lora_training_client(base_model=BASE_MODEL, rank=8).result()
        info = training.get_info()
        assert info.model_data.model_name == BASE_MODEL, info
        tokens = [BOS, *b"The quick brown fox jumps over the lazy dog."]
        n = len(tokens) - 1
        datum = types.Datum(
            model_input=types.ModelInput.from_ints(tokens[:-1]),
            loss_fn_inputs={"target_tokens": tensor(tokens[1:], "int64"),
                            "weights": tensor([1.0] * n, "float32")})

        forward = training.forward([datum], "cross_entropy").result()
        assert forward.loss_fn_outputs[0]["logprobs"].shape == [n], forward

        losses = []
        for _ in range(STEPS):
            fwd_bwd = training.forward_backward([datum] * BATCH, "cross_entropy")
            optim = training.optim_step(types.AdamParams(learning_rate=1e-2))
            output = fwd_bwd.result()
            optim.result()
            assert len(output.loss_fn_outputs) == BATCH
            losses.append(output.metrics["loss:sum"])
        # The forward pass must not have touched the weights: its loss matches step 1's.
        forward_loss = -sum(forward.loss_fn_outputs[0]["logprobs"].tolist())
        assert math.isclose(forward_loss * BATCH, losses[0], rel_tol=1e-3), (forward_loss,
                                                                            losses[0])

        saved = training.save_state("final").result()
        sampler = training.save_weights_and_get_sampling_client().result()
        prompt = types.ModelInput.from_ints(tokens[:10])
        sampled = sampler.sample(
            prompt=prompt, num_samples=2, include_prompt_logprobs=True, topk_prompt_logprobs=3,
            sampling_params=types.SamplingParams(max_tokens=16, temperature=0.0)).result()
        assert len(sampled.sequences) == 2
        assert all(len(seq.tokens) > 0 for seq in sampled.sequences)
        assert all(seq.sequence_id for seq in sampled.sequences), sampled.sequences
        assert sampled.prompt_logprobs[0] is None and None not in sampled.prompt_logprobs[1:]
        topk = sampled.topk_prompt_logprobs
        assert topk[0] is None and all(len(row) == 3 for row in topk[1:]), topk
        logprobs = sampler.compute_logprobs(prompt).result()
        assert len(logprobs) == 10 and logprobs[0] is None, logprobs

        # A named sampler checkpoint, sampled through create_sampling_client(model_path):
        # greedy decoding must give what the ephemeral sampler gave.
        named = training.save_weights_for_sampler("final-sampler").result()
        by_path = service.create_sampling_client(model_path=named.path).result()
        assert by_path.get_base_model() == BASE_MODEL
        again = by_path.sample(prompt=prompt, num_samples=1, sampling_params=types.SamplingParams(
            max_tokens=16, temperature=0.0)).result()
        assert again.sequences[0].tokens == sampled.sequences[0].tokens
        # An unpickled copy (as in a process-pool worker) joins the sampling session for a
        # block of seq_ids of its own (join_sampling_session, which the emulator offers).
        copy = pickle.loads(pickle.dumps(by_path))
        cloned = copy.sample(prompt=prompt, num_samples=1, sampling_params=types.SamplingParams(
            max_tokens=16, temperature=0.0)).result()
        assert cloned.sequences[0].tokens == sampled.sequences[0].tokens

        # 0.38 creates a training client from a checkpoint with load_weights in create
        # mode (the model id is derived client-side) followed by get_info.
        restored = service.create_training_client_from_state_with_optimizer(saved.path).result()
        assert restored.model_id != training.model_id
        mine = training.forward([datum], "cross_entropy").result()
        theirs = restored.forward([datum], "cross_entropy").result()
        assert (mine.loss_fn_outputs[0]["logprobs"].tolist()
                == theirs.loss_fn_outputs[0]["logprobs"].tolist())

        checkpoints = rest.list_checkpoints(training.model_id).result().checkpoints
        ids = [c.checkpoint_id for c in checkpoints]
        assert {"weights/final", "sampler_weights/final-sampler"} <= set(ids), ids

    print("RESULT " + json.dumps({
        "first_loss": losses[0], "last_loss": losses[-1], "state_path": saved.path,
        "checkpoints": ids,
        "sample": bytes(t for t in sampled.sequences[0].tokens
                        if t < 256).decode("utf-8", "replace")}), flush=True)


if __name__ == "__main__":
    main()
