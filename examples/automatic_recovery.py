"""Automatic recovery: keep training when the server marks the run corrupted.

A ``RecoveryMonitor`` watches the training client's run. When the server
reports it ``corrupted`` (its training requests fail), the monitor creates a
new training client from the run's latest checkpoint (with the optimizer
state) and hands it over: ``monitor.current(client)`` is the client to use,
and ``on_recovery`` is told. The loop below saves a checkpoint every step, so a
recovery loses at most one step. Against a healthy server nothing happens;
start the emulator with ``--fault-corrupt-after 3`` to watch it recover.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator --fault-corrupt-after 3 &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/automatic_recovery.py
"""

from __future__ import annotations

import os

import numpy as np

import tinkex
from tinkex import types
from tinkex.recovery import RecoveryMonitor, RecoveryPolicy

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
STEPS = 6


def main() -> None:
    with tinkex.ServiceClient() as service:
        client = service.create_lora_training_client(base_model=BASE_MODEL, rank=8)
        tokenizer = client.get_tokenizer()
        ids = [tokenizer.bos_token_id or 0, *tokenizer.encode("Keep calm and carry on."),
               tokenizer.eos_token_id or 0]
        datum = types.Datum(model_input=types.ModelInput.from_ints(ids[:-1]),
                            loss_fn_inputs={
                                "target_tokens": types.TensorData.from_numpy(
                                    np.asarray(ids[1:], dtype=np.int64)),
                                "weights": types.TensorData.from_numpy(
                                    np.ones(len(ids) - 1, dtype=np.float32))})

        def recovered(old: tinkex.TrainingClient, new: tinkex.TrainingClient, path: str) -> None:
            print(f"  recovered {old.model_id} -> {new.model_id} from {path}")

        policy = RecoveryPolicy(poll_interval=0.2, backoff=0.5, on_recovery=recovered)
        with RecoveryMonitor(service, policy) as monitor:
            monitor.watch(client)
            done = 0
            while done < STEPS:
                client = monitor.current(client)
                try:
                    loss = client.forward_backward([datum], "cross_entropy").result()
                    client.optim_step(types.AdamParams(learning_rate=1e-2)).result()
                    client.save_state(f"step-{done}").result()
                except tinkex.RequestFailedError as exc:
                    if exc.category != tinkex.RequestErrorCategory.SERVER:
                        raise
                    print(f"step {done} failed on the server ({exc}); waiting for recovery")
                    monitor.check()  # recover now instead of at the next poll
                    continue
                print(f"step {done}: loss {loss.metrics['loss:sum']:.3f} on {client.model_id}")
                done += 1
            print(f"trained {STEPS} steps with {monitor.recoveries} recovery(ies)")


if __name__ == "__main__":
    main()
