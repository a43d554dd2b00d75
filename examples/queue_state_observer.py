"""Queue-state observers: hear when the server parks your requests, and why.

When the service is short on capacity or you hit a rate limit, a future's
result polls answer "try again" with a queue state (``paused_rate_limit``,
``paused_capacity``, ``active``) and a reason. ``APIFuture.add_queue_state_observer``
registers ``observer(state, reason)``; it is called once per *change* (no
repeats), and at once if a state is already known when it is registered.

Run it against an emulator that pauses every future for 2 seconds (the short
``--poll-hold`` makes each poll answer while the request is still parked)::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator \\
        --fault-pause paused_rate_limit:2 --poll-hold 0.5 &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/queue_state_observer.py

Against a server that never pauses it prints that nothing was observed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import numpy as np

import tinkex
from tinkex import types

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
QueueStateObserver = Callable[[str, str | None], None]


class QueueStateLog:
    """Collects (request, state, reason) and prints each change with a timestamp."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.events: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()  # observers run on the client's polling threads

    def observer(self, label: str) -> QueueStateObserver:
        def on_change(state: str, reason: str | None) -> None:
            with self._lock:
                self.events.append((label, state, reason))
            print(f"  +{time.monotonic() - self.started:4.1f}s [{label}] queue state: {state}"
                  f" ({reason or 'no reason given'})", flush=True)
        return on_change


def main() -> None:
    log = QueueStateLog()
    with tinkex.ServiceClient() as service:
        print("creating a training client (the server may hold it in a queue)...")
        training = service.create_lora_training_client(base_model=BASE_MODEL, rank=4)
        sampler = service.create_sampling_client(base_model=BASE_MODEL)

        tokens = [104, 101, 108, 108, 111]  # "hello"
        datum = types.Datum(
            model_input=types.ModelInput.from_ints(tokens[:-1]),
            loss_fn_inputs={"target_tokens": types.TensorData.from_numpy(np.asarray(tokens[1:])),
                            "weights": types.TensorData.from_numpy(np.ones(4, np.float32))})
        fwd_bwd = training.forward_backward([datum], "cross_entropy")
        optim = training.optim_step(types.AdamParams(learning_rate=1e-3))
        sample = sampler.sample(types.ModelInput.from_ints(tokens), num_samples=1,
                                sampling_params=types.SamplingParams(max_tokens=4))
        fwd_bwd.add_queue_state_observer(log.observer("forward_backward"))
        optim.add_queue_state_observer(log.observer("optim_step"))
        sample.add_queue_state_observer(log.observer("sample"))

        print(f"loss:sum {fwd_bwd.result().metrics['loss:sum']:.2f}, optim_step done: "
              f"{optim.result() is not None}, sampled {len(sample.result().sequences[0].tokens)} "
              f"tokens after {time.monotonic() - log.started:.1f}s")

    states = sorted({state for _, state, _ in log.events})
    if states:
        print(f"observed queue states: {', '.join(states)} ({len(log.events)} changes)")
    else:
        print("no queue state changes observed (the server never paused these requests)")


if __name__ == "__main__":
    main()
