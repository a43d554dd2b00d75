"""Core features through the public client, against real emulator processes on loopback:
raw responses, metrics, the shared rate limiter and the circuit breaker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tinkex
from tinkex.core.raw import RawResponse
from tinkex.emulator.run.process import EmulatorProcess

KEY = "tml-observability-key"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmulatorProcess(tmp_path_factory.mktemp("emu")) as emu:
        yield emu.base_url


@pytest.fixture
def service(base_url: str) -> Iterator[tinkex.ServiceClient]:
    with tinkex.ServiceClient(base_url=base_url, api_key=KEY) as client:
        yield client


def test_raw_response_of_a_tinker_operation(service, base_url):
    raw = service.api.service.with_raw_response.get_server_capabilities()
    assert isinstance(raw, RawResponse)
    assert raw.status_code == 200 and raw.url == f"{base_url}/api/v1/get_server_capabilities"
    assert raw.headers["content-type"].startswith("application/json") and raw.attempts == 1
    assert raw.elapsed > 0
    assert {m.model_name for m in raw.parse().supported_models} >= {"tinkex/tiny-lm"}
    runs = service.api.with_raw_response.rest.list_training_runs(limit=3)
    assert runs.parse().training_runs == [] or runs.parse().cursor is not None


def test_metrics_count_the_calls_of_the_client_family(service):
    sampler = service.create_sampling_client(base_model="tinkex/tiny-lm")
    params = tinkex.types.SamplingParams(max_tokens=2, temperature=0.0)
    for future in [sampler.sample(tinkex.types.ModelInput.from_ints([1, 2]), 1, params)
                   for _ in range(3)]:
        future.result()
    with pytest.raises(tinkex.NotFoundError):
        service.create_rest_client().get_training_run("no-such-run").result()
    snapshot = service.metrics()
    assert snapshot["asample"].calls == 3 and snapshot["asample"].successes == 3
    assert snapshot["create_session"].calls == 1
    assert dict(snapshot["get_training_run"].failures) == {"404": 1}
    latency = snapshot["asample"].latency
    assert 0 < latency.p50 <= latency.p95 <= latency.p99 <= latency.max
    assert service.metrics(reset=True).calls >= 8
    assert "asample" not in service.metrics()


def test_a_429_slows_every_client_of_the_key_in_the_process(tmp_path: Path):
    args = ["--fault-429-rate", "1.0"]  # every asample answers 429 with Retry-After: 1
    with EmulatorProcess(tmp_path / "emu429", args=args) as emu, \
            tinkex.ServiceClient(base_url=emu.base_url, api_key=KEY) as first, \
            tinkex.ServiceClient(base_url=emu.base_url, api_key=KEY) as second, \
            tinkex.ServiceClient(base_url=emu.base_url, api_key=KEY + "-other") as other:
        sampler = first.create_sampling_client(base_model="tinkex/micro-lm")
        second.get_server_capabilities()
        other.get_server_capabilities()
        with pytest.raises(tinkex.RateLimitError):
            first.api.sampling.asample(
                sampling_session_id=sampler.sampling_session_id, seq_id=0, num_samples=1,
                prompt=tinkex.types.ModelInput.from_ints([1, 2]),
                sampling_params=tinkex.types.SamplingParams(max_tokens=1))
        rejected = time.monotonic()
        other.get_server_capabilities()  # another key is not slowed
        other_done = time.monotonic()
        second.get_server_capabilities()  # the same key waits out the server's 1 s
        assert time.monotonic() - rejected >= 0.95
        assert other_done - rejected < 0.9


def test_circuit_breaker_opens_on_a_failing_server_and_fails_fast(tmp_path: Path):
    with EmulatorProcess(tmp_path / "emu5xx", args=["--fault-5xx-rate", "1.0"]) as emu, \
            tinkex.ServiceClient(base_url=emu.base_url, api_key=KEY, max_retries=0,
                                 circuit_breaker=True) as service:
        for _ in range(5):
            with pytest.raises(tinkex.InternalServerError):
                service.get_server_capabilities()
        started = time.monotonic()
        with pytest.raises(tinkex.CircuitOpenError, match="circuit breaker 'server' of pool "):
            service.get_server_capabilities()
        assert time.monotonic() - started < 0.5
        failures = dict(service.metrics()["get_server_capabilities"].failures)
        assert failures["circuit_open"] == 1 and sum(failures.values()) == 6


def test_tracing_propagates_the_trace_into_the_emulator_logs(tmp_path: Path):
    trace = pytest.importorskip("opentelemetry.trace")
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    if not isinstance(trace.get_tracer_provider(), sdk_trace.TracerProvider):
        trace.set_tracer_provider(sdk_trace.TracerProvider())
    with EmulatorProcess(tmp_path / "emu-otel", args=["--log-level", "info"]) as emu, \
            tinkex.ServiceClient(base_url=emu.base_url, api_key=KEY, tracing=True) as service:
        with trace.get_tracer("test").start_as_current_span("my job") as job:
            service.get_server_capabilities()
        trace_id = f"{job.get_span_context().trace_id:032x}"
        deadline = time.monotonic() + 10
        while not any(trace_id in line for line in emu.output):
            assert time.monotonic() < deadline, "".join(emu.output[-20:])
            time.sleep(0.02)
        line = next(line for line in emu.output if trace_id in line)
        assert "get_server_capabilities" in line and f"traceparent=00-{trace_id}-" in line
