"""What the console tests share: a short training run made with the tinkex SDK, and keys.

The run is made as a user would: a few steps of cross-entropy (with a forward
pass now and then), a named sampler checkpoint with a sampling session that
samples it, a training checkpoint. Another tenant (``OTHER_KEY``) owns nothing,
so its view of the console tests the isolation between keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

import tinkex
from tinkex import types

KEY = "tml-console-owner"
OTHER_KEY = "tml-console-other"
STEPS = 8
TEXT = "The quick brown fox jumps over the lazy dog."
#: Screenshots and other files a person may want to look at after a run (git-ignored).
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "console"


@dataclass(frozen=True)
class Trained:
    base_url: str
    model_id: str
    session_id: str
    sampler_path: str
    state_path: str
    sampler_id: str
    losses: list[float]  # per step, as the client computed them
    console_url: str  # the sign-in link the client config handed the owner


def console_link(base_url: str, key: str) -> str:
    """The console base URL the emulator's client config gives ``key``."""
    response = requests.post(f"{base_url}/api/v1/client/config", json={"sdk_version": "0.38.0"},
                             headers={"X-API-Key": key}, timeout=30)
    response.raise_for_status()
    return str(response.json()["console_url"])


def datum(tokenizer: Any) -> types.Datum:
    ids = [*tokenizer.encode(TEXT), tokenizer.eos_token_id]  # encode() starts with <bos>
    n = len(ids) - 1
    return types.Datum(model_input=types.ModelInput.from_ints(ids[:-1]), loss_fn_inputs={
        "target_tokens": types.TensorData.from_list(ids[1:], "int64"),
        "weights": types.TensorData.from_list([1.0] * n, "float32")})


def train(base_url: str) -> Trained:
    with tinkex.ServiceClient(base_url=base_url, api_key=KEY) as service:
        training = service.create_lora_training_client(base_model="tinkex/micro-lm", rank=8,
                                                       seed=0)
        example = datum(training.get_tokenizer())
        weight = sum(example.loss_fn_inputs["weights"].data)
        losses = []
        for step in range(STEPS):
            if step % 4 == 0:  # an evaluation pass now and then: the chart's second series
                training.forward([example], "cross_entropy").result()
            fb = training.forward_backward([example], "cross_entropy")
            training.optim_step(types.AdamParams(learning_rate=2e-2)).result()
            losses.append(fb.result().metrics["loss:sum"] / weight)
        sampler_path = training.save_weights_for_sampler("console-sampler").result().path
        state_path = training.save_state("console-state").result().path
        sampler = service.create_sampling_client(model_path=sampler_path)
        prompt = types.ModelInput.from_ints([256, *b"The quick"])
        sampler.sample(prompt, 2, types.SamplingParams(max_tokens=12, temperature=0.0)).result()
        session = service.create_rest_client().get_session(service.session_id).result()
        return Trained(base_url, training.model_id, service.session_id, sampler_path,
                       state_path, session.sampler_ids[-1], losses, console_link(base_url, KEY))
