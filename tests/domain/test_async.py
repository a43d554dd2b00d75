"""Coroutines: ``*_async`` twins, awaitable futures and clients, against a real emulator.

The script in :func:`test_quickstart_style_async_script` is written the way the
official SDK 0.38 quickstart and the tinker-cookbook loops are: clients from
``*_async`` creators (and ``await create_*``), ``asyncio.gather`` of samples,
awaited futures, ``await service.close(...)``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import tinkex
from tinkex import types
from tinkex.core.apifuture import APIFuture
from tinkex.emulator.run.process import EmulatorProcess

KEY = "tml-async-key"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmulatorProcess(tmp_path_factory.mktemp("emu"), args=["--poll-hold", "5"]) as emu:
        yield emu.base_url


def client_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name.startswith("tinkex-") and not t.name.startswith("tinkex-emulator")]


def test_import_tinkex_does_not_import_asyncio() -> None:
    code = ("import sys, tinkex, tinkex.types, tinkex.cli; "
            "sys.exit(1 if 'asyncio' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def _datum(tok, text: str) -> types.Datum:
    ids = [tok.bos_token_id, *tok.encode(text), tok.eos_token_id]
    return types.Datum(model_input=types.ModelInput.from_ints(ids[:-1]),
                       loss_fn_inputs={"target_tokens": ids[1:], "weights": [1.0] * (len(ids) - 1)})


def test_quickstart_style_async_script(base_url: str) -> None:
    async def main() -> dict[str, object]:
        service = tinkex.ServiceClient(base_url=base_url, api_key=KEY)
        training = await service.create_lora_training_client_async(
            base_model="tinkex/micro-lm", rank=4, seed=3)
        also_training = await service.create_lora_training_client(
            base_model="tinkex/micro-lm", rank=4)
        assert isinstance(also_training, tinkex.TrainingClient)
        assert service.create_lora_training_client(base_model="tinkex/micro-lm").result() \
            .model_id.startswith(service.session_id)
        tok = training.get_tokenizer()
        datum = _datum(tok, "Hello, tinkex!")
        losses = []
        for _ in range(3):
            fwd = await training.forward_backward_async([datum] * 2, "cross_entropy")
            opt = await training.optim_step_async(types.AdamParams(learning_rate=5e-2))
            losses.append((await fwd).metrics["loss:sum"])
            await opt
        info = await training.get_info_async()
        sampler = await training.save_weights_and_get_sampling_client_async()
        prompt = types.ModelInput.from_ints([tok.bos_token_id, *tok.encode("Hel")])
        params = types.SamplingParams(max_tokens=4, temperature=1.0, seed=1)
        results = await asyncio.gather(*[sampler.sample_async(prompt, 1, params)
                                         for _ in range(8)])
        awaited = await sampler.sample(prompt, 2, params)
        logprobs = await sampler.compute_logprobs_async(prompt)
        base_sampler = await service.create_sampling_client_async(base_model="tinkex/micro-lm")
        rest = service.create_rest_client()
        run = await rest.get_training_run_async(training.model_id)
        runs = await rest.list_training_runs()
        url = training.get_console_url()
        base = await base_sampler.get_base_model_async()
        await service.close("success")
        return {"losses": losses, "info": info, "results": results, "awaited": awaited,
                "prompt_length": prompt.length,
                "logprobs": logprobs, "base": base,
                "run": run, "runs": runs, "url": url, "session": service.get_console_url()}

    out = asyncio.run(main())
    losses = out["losses"]
    assert losses[-1] < losses[0]
    assert out["info"].model_data.model_name == "tinkex/micro-lm"
    assert len(out["results"]) == 8 and all(len(r.sequences) == 1 for r in out["results"])
    assert len(out["awaited"].sequences) == 2
    assert out["logprobs"][0] is None and len(out["logprobs"]) == out["prompt_length"]
    assert out["base"] == "tinkex/micro-lm"
    assert out["run"].training_run_id in {r.training_run_id for r in out["runs"].training_runs}
    assert out["url"].endswith(f"/training_runs/{out['run'].training_run_id}")
    assert "/sessions/" in out["session"]
    assert not client_threads()


def test_twins_keep_call_order_of_training_requests(base_url: str) -> None:
    """gather() of training twins submits (and numbers) them in call order.

    The same calls made one after the other on a twin model (same seed) give
    the reference: each forward sees exactly the optimizer steps before it.
    """
    async def forward_losses(training: tinkex.TrainingClient, datum: types.Datum,
                             gathered: bool) -> list[float]:
        calls = []
        for _ in range(4):
            calls += [lambda: training.forward_async([datum], "cross_entropy"),
                      lambda: training.forward_backward_async([datum], "cross_entropy"),
                      lambda: training.optim_step_async(types.AdamParams(learning_rate=0.05))]
        if gathered:
            futures = await asyncio.gather(*[call() for call in calls])
        else:
            futures = [await call() for call in calls]
        results = await asyncio.gather(*futures)
        return [r.metrics["loss:sum"] for r in results[0::3]]

    async def main() -> tuple[list[float], list[float]]:
        with tinkex.ServiceClient(base_url=base_url, api_key=KEY) as service:
            one, two = await asyncio.gather(*[service.create_lora_training_client_async(
                base_model="tinkex/micro-lm", rank=4, seed=5) for _ in range(2)])
            datum = _datum(one.get_tokenizer(), "order")
            return (await forward_losses(one, datum, gathered=True),
                    await forward_losses(two, datum, gathered=False))

    gathered, sequential = asyncio.run(main())
    assert gathered == pytest.approx(sequential, rel=1e-6)
    assert len(set(gathered)) == 4  # every step changed the weights


def test_cancelling_the_awaiting_task_cancels_the_request(base_url: str) -> None:
    async def main() -> tuple[APIFuture[object], bool]:
        with tinkex.ServiceClient(base_url=base_url, api_key=KEY) as service:
            sampler = await service.create_sampling_client_async(base_model="tinkex/micro-lm")
            prompt = types.ModelInput.from_ints([256, 72])
            future = sampler.sample(prompt, 1, types.SamplingParams(max_tokens=200))
            task = asyncio.create_task(future.result_async())
            await asyncio.sleep(0)  # let the task start awaiting
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return future, future.cancelled()

    future, cancelled = asyncio.run(main())
    assert cancelled and future.cancelled()
    assert not client_threads()


def test_result_async_timeout_keeps_the_future(base_url: str) -> None:
    async def main() -> object:
        with tinkex.ServiceClient(base_url=base_url, api_key=KEY) as service:
            sampler = await service.create_sampling_client_async(base_model="tinkex/micro-lm")
            future = sampler.sample(types.ModelInput.from_ints([256, 72]), 1,
                                    types.SamplingParams(max_tokens=3))
            try:
                await future.result_async(timeout=0)
            except TimeoutError:
                pass
            assert not future.cancelled()
            value = await future.coroutine()
            assert future.future() is future
            return value

    assert len(asyncio.run(main()).sequences) == 1


def test_failures_surface_in_the_coroutine(base_url: str) -> None:
    async def main() -> None:
        with tinkex.ServiceClient(base_url=base_url, api_key=KEY) as service:
            with pytest.raises(tinkex.APIStatusError):
                await service.create_lora_training_client_async(base_model="no/such-model")
            with pytest.raises(ValueError, match="num_samples"):
                sampler = await service.create_sampling_client_async(
                    base_model="tinkex/micro-lm")
                await sampler.sample_async(types.ModelInput.from_ints([1]), 0,
                                           types.SamplingParams())

    asyncio.run(main())


def test_close_cancels_offloaded_calls_nobody_will_run(tmp_path: Path) -> None:
    from tinkex.core.offload import Offloader

    offloader = Offloader("test-offload", 1)
    gate = threading.Event()
    first = offloader.submit(gate.wait, 30)
    second = offloader.submit(lambda: 2)
    offloader.request_stop()
    gate.set()
    offloader.join(10)
    assert second.cancelled() and first.cancelled()
    with pytest.raises(RuntimeError):
        offloader.submit(lambda: 3)


def test_lane_runs_calls_in_order() -> None:
    from tinkex.core.offload import Offloader

    offloader = Offloader("test-lane", 4)
    lane = offloader.lane()
    seen: list[int] = []
    futures = [offloader.submit(seen.append, i, lane=lane) for i in range(50)]
    for future in futures:
        future.result(10)
    offloader.request_stop()
    offloader.join(10)
    assert seen == list(range(50))
