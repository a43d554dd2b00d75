"""Fault soak: SFT steps, sampler snapshots, samples and checkpoints under injected faults.

The same seeded workload runs twice, on a fault-free emulator and on one that
answers 5xx, drops connections before running a request, runs a request and then
drops its answer ("lost answer": the client must resend and get the first
result), and refuses samples with 429. Every result must be there (no lost
result), every step must have run exactly once (no duplicate), and the losses,
samples and final weights (optimizer state included) must be bitwise identical.
``make test`` runs a short soak; ``make reliability`` one with >= 200 faults of
each kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import tinkex
from tinkex import types
from tinkex.emulator import Emulator, EmulatorConfig, FaultConfig

MICRO = "tinkex/micro-lm"
TEXT = b"the quick brown fox jumps over the lazy dog. "


@dataclass
class Outcome:
    losses: list[float] = field(default_factory=list)
    samples: list[list[int]] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    optimizer_steps: int = 0
    passes: int = 0
    injected: dict[str, int] = field(default_factory=dict)


def _datum(step: int) -> types.Datum:
    start = (step * 7) % (len(TEXT) - 17)
    tokens = list(TEXT[start:start + 17])
    return types.Datum(model_input=types.ModelInput.from_ints(tokens[:-1]),
                       loss_fn_inputs={"target_tokens": tokens[1:],
                                       "weights": [1.0] * (len(tokens) - 1)})


def _run(data_dir: Path, faults: FaultConfig, steps: int, sample_every: int,
         save_every: int) -> Outcome:
    out = Outcome()
    config = EmulatorConfig(data_dir=data_dir, poll_hold=2.0, faults=faults)
    with Emulator(config) as emulator:
        client = tinkex.ServiceClient(base_url=emulator.base_url, api_key="tml-soak")
        try:
            training = client.create_lora_training_client(base_model=MICRO, rank=4, seed=7)
            adam = types.AdamParams(learning_rate=1e-2)
            for step in range(1, steps + 1):
                fb = training.forward_backward([_datum(step)], "cross_entropy")
                optim = training.optim_step(adam)
                out.losses.append(float(fb.result(timeout=300).metrics["loss:sum"]))
                optim.result(timeout=300)
                if step % sample_every == 0:
                    sampler = training.save_weights_and_get_sampling_client()
                    sampled = sampler.sample(types.ModelInput.from_ints(list(b"the ")), 1,
                                             types.SamplingParams(max_tokens=4, seed=step))
                    out.samples.append(list(sampled.result(timeout=300).sequences[0].tokens))
                if step % save_every == 0:
                    saved = training.save_weights_for_sampler(f"step-{step}")
                    out.checkpoints.append(saved.result(timeout=300).path.rsplit("/", 1)[1])
            services = emulator.services
            assert services is not None
            run_id = training.model_id
            out.weights = services.models.get(run_id).state_dict(include_optimizer=True)
            out.optimizer_steps = len(services.history.steps(run_id))
            out.passes = services.history._all("SELECT COUNT(*) FROM passes WHERE run_id = ?",
                                               (run_id,))[0][0]
            out.injected = dict(services.faults.injected)
        finally:
            client.close()
    return out


def _soak(tmp_path: Path, steps: int, rate: float, rate_429: float, sample_every: int,
          save_every: int, least: int) -> None:
    clean = _run(tmp_path / "clean", FaultConfig(), steps, sample_every, save_every)
    faulty = _run(tmp_path / "faulty", FaultConfig(seed=12, rate_5xx=rate, drop_rate=rate,
                                                   lose_rate=rate, rate_429=rate_429),
                  steps, sample_every, save_every)
    print(f"faults injected: {faulty.injected}")
    assert faulty.optimizer_steps == clean.optimizer_steps == steps  # none lost or repeated
    assert faulty.passes == clean.passes == steps
    assert faulty.losses == clean.losses
    assert faulty.samples == clean.samples and len(clean.samples) == steps // sample_every
    assert faulty.checkpoints == clean.checkpoints
    assert faulty.weights.keys() == clean.weights.keys()
    for name, array in clean.weights.items():
        assert faulty.weights[name].tobytes() == array.tobytes(), name
    for kind in ("5xx", "drop", "lose", "429"):
        assert faulty.injected.get(kind, 0) >= least, (kind, faulty.injected)


def test_short_fault_soak(tmp_path: Path) -> None:
    _soak(tmp_path, steps=16, rate=0.1, rate_429=0.4, sample_every=2, save_every=8, least=1)


@pytest.mark.reliability
@pytest.mark.timeout(1800)  # each 429 waits out its Retry-After (1 s): about 10 minutes
def test_fault_soak_with_200_faults_of_each_kind(tmp_path: Path) -> None:
    _soak(tmp_path, steps=320, rate=0.1, rate_429=0.45, sample_every=1, save_every=40,
          least=200)
