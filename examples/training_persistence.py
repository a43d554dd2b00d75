"""Save training state, restore it in a new session with the optimizer, and keep training.

``save_state(name, ttl_seconds=...)`` stores weights *and* AdamW moments as
``tinker://<run>/weights/<name>``. A different process (here: a second
``ServiceClient``, i.e. a new session) restores it with
``create_training_client_from_state_with_optimizer`` and continues as if
nothing happened: the loss keeps falling from where it was. Also shows
``load_state_with_optimizer`` on an existing client (rewinding it).

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/training_persistence.py
"""

from __future__ import annotations

import os

import numpy as np

import tinkex
from tinkex import types

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
ADAM = types.AdamParams(learning_rate=1e-2)
TEXT = "persistence keeps the optimizer state too"


def make_batch(tokens: list[int]) -> list[types.Datum]:
    return [types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={
            "target_tokens": types.TensorData.from_numpy(np.asarray(tokens[1:], np.int64)),
            "weights": types.TensorData.from_numpy(np.ones(len(tokens) - 1, np.float32)),
        })]


def train(client: tinkex.TrainingClient, batch: list[types.Datum], steps: int) -> list[float]:
    """``steps`` pipelined steps; the loss of each (measured before its update)."""
    losses = []
    for _ in range(steps):
        fwd_bwd = client.forward_backward(batch, "cross_entropy")
        optim = client.optim_step(ADAM)
        losses.append(fwd_bwd.result().metrics["loss:sum"])
        optim.result()
    return losses


def current_loss(client: tinkex.TrainingClient, batch: list[types.Datum]) -> float:
    return client.forward(batch, "cross_entropy").result().metrics["loss:sum"]


def main() -> None:
    with tinkex.ServiceClient() as first:
        training = first.create_lora_training_client(base_model=BASE_MODEL, rank=8, seed=0)
        batch = make_batch(training.get_tokenizer().encode(TEXT, add_special_tokens=True))
        before = train(training, batch, 5)
        print("session 1 losses:", " ".join(f"{x:.2f}" for x in before))
        saved = training.save_state("persist-5", ttl_seconds=24 * 3600).result()
        at_save = current_loss(training, batch)
        print(f"saved {saved.path} (loss now {at_save:.2f})")

        # Rewind: two more steps, then load the checkpoint back into the same client, and
        # record how training continues from there (the reference for session 2).
        train(training, batch, 2)
        advanced = current_loss(training, batch)
        training.load_state_with_optimizer(saved.path).result()
        print(f"load_state_with_optimizer rewound the loss from {advanced:.2f} to "
              f"{current_loss(training, batch):.2f}")
        reference = train(training, batch, 5)

    # A new session, as a later run of the script would have.
    with tinkex.ServiceClient() as second:
        restored = second.create_training_client_from_state_with_optimizer(saved.path)
        resumed_at = current_loss(restored, batch)
        print(f"session 2 restored {restored.model_id}: loss {resumed_at:.2f}")
        after = train(restored, batch, 5)
        print("session 2 losses:", " ".join(f"{x:.2f}" for x in after))

    if not np.isclose(resumed_at, at_save, rtol=1e-3):
        raise SystemExit("the restored model does not match the saved one")
    if not (after[-1] < after[0] <= before[-1]):
        raise SystemExit("the loss did not keep falling after the restore")
    if not np.allclose(after, reference, rtol=1e-3):
        raise SystemExit("the restored run diverged from the original (optimizer state lost?)")
    print("session 2 retraced the original client's steps exactly (weights + Adam moments)")
    print(f"loss kept falling across sessions: {before[0]:.2f} -> {before[-1]:.2f} | "
          f"{after[0]:.2f} -> {after[-1]:.2f}")


if __name__ == "__main__":
    main()
