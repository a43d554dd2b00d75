"""Automatic recovery end to end: the emulator marks a run corrupted, the monitor notices,
the executor rebuilds the training client from the latest checkpoint, training goes on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

import tinkex
from tinkex import types
from tinkex.emulator import FaultConfig
from tinkex.emulator.run.inprocess import InProcessEmulator
from tinkex.recovery import RecoveryError, RecoveryExecutor, RecoveryMonitor, RecoveryPolicy

KEY = "tml-recovery"
TOKENS = [256, *b"recover me, please", 257]
DATUM = types.Datum(model_input=types.ModelInput.from_ints(TOKENS[:-1]),
                    loss_fn_inputs={"target_tokens": TOKENS[1:],
                                    "weights": [1.0] * (len(TOKENS) - 1)})


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessEmulator]:
    """The emulator in this process; every run is corrupted by its 2nd optimizer step."""
    with InProcessEmulator(data_dir=tmp_path_factory.mktemp("emu"),
                           faults=FaultConfig(corrupt_after=2)) as emu:
        yield emu


@pytest.fixture
def service(emulator: InProcessEmulator) -> Iterator[tinkex.ServiceClient]:
    with tinkex.ServiceClient(base_url=emulator.base_url, api_key=KEY,
                              transport=emulator.transport()) as client:
        yield client


def step(client: tinkex.TrainingClient) -> float:
    loss = client.forward_backward([DATUM], "cross_entropy").result().metrics["loss:sum"]
    client.optim_step(types.AdamParams(learning_rate=1e-2)).result()
    return loss


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_corrupted_run_is_recovered_from_its_latest_checkpoint(service):
    training = service.create_lora_training_client(base_model="tinkex/micro-lm", rank=4, seed=3)
    step(training)
    saved = training.save_state("after-one").result().path
    expected = training.forward([DATUM], "cross_entropy").result().metrics["loss:sum"]
    step(training)  # the run is now corrupted
    rest = service.create_rest_client()
    assert rest.get_training_run(training.model_id).result().corrupted
    with pytest.raises(tinkex.RequestFailedError, match="corrupted") as info:
        training.forward_backward([DATUM], "cross_entropy").result()
    assert info.value.category == tinkex.RequestErrorCategory.SERVER

    seen: list[tuple[str, str, str]] = []
    policy = RecoveryPolicy(poll_interval=0.05, backoff=0.0,
                            on_recovery=lambda old, new, path: seen.append(
                                (old.model_id, new.model_id, path)))
    monitor = RecoveryMonitor(service, policy)
    monitor.watch(training)
    wait_for(lambda: monitor.recoveries == 1)
    new = monitor.current(training)
    assert new.model_id != training.model_id
    assert seen == [(training.model_id, new.model_id, saved)]
    # the new client has the checkpoint's weights, and it trains
    assert new.forward([DATUM], "cross_entropy").result().metrics["loss:sum"] == \
        pytest.approx(expected, rel=1e-5)
    step(new)
    assert not rest.get_training_run(new.model_id).result().corrupted
    assert monitor.current(new) is new
    monitor.close()


def test_the_service_client_stops_the_monitor(emulator):
    with tinkex.ServiceClient(base_url=emulator.base_url, api_key=KEY,
                              transport=emulator.transport()) as service:
        training = service.create_lora_training_client(base_model="tinkex/micro-lm", rank=4)
        monitor = RecoveryMonitor(service, RecoveryPolicy(poll_interval=0.05))
        monitor.watch(training)
        assert any(t.name == "tinkex-recovery-monitor" for t in threading.enumerate())
    assert not any(t.name == "tinkex-recovery-monitor" and t.is_alive()
                   for t in threading.enumerate())


def test_without_a_checkpoint_recovery_gives_up_and_says_why(service):
    training = service.create_lora_training_client(base_model="tinkex/micro-lm", rank=4)
    step(training)
    step(training)
    failures: list[str] = []
    policy = RecoveryPolicy(poll_interval=0.05, backoff=0.0,
                            on_failure=lambda run_id, exc: failures.append(run_id))
    with RecoveryMonitor(service, policy) as monitor:
        monitor.watch(training)
        wait_for(lambda: failures)
        with pytest.raises(RecoveryError, match="has no training checkpoint"):
            monitor.current(training)
    assert failures == [training.model_id]


def test_a_given_checkpoint_without_the_optimizer_and_retries(service):
    training = service.create_lora_training_client(base_model="tinkex/micro-lm", rank=4)
    step(training)
    path = training.save_state("chosen").result().path
    sleeps: list[float] = []
    executor = RecoveryExecutor(service, RecoveryPolicy(checkpoint=path, restore_optimizer=False,
                                                        max_attempts=2, backoff=0.5),
                                sleep=sleeps.append)
    new = executor.recover(training.model_id)
    assert new.model_id != training.model_id and sleeps == []
    broken = RecoveryExecutor(service, RecoveryPolicy(
        checkpoint=path.replace("chosen", "missing"), max_attempts=3, backoff=0.5,
        backoff_max=0.8), sleep=sleeps.append)
    with pytest.raises(RecoveryError, match="after 3 attempt") as info:
        broken.recover(training.model_id)
    assert sleeps == [0.5, 0.8] and info.value.attempts == 3
    with pytest.raises(ValueError, match="tinker:// path"):
        RecoveryPolicy(checkpoint="best")
