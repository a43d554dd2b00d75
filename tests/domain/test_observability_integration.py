"""Raw responses and metrics through the public client, against a real emulator process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tinkex
from tinkex.core.raw import RawResponse
from tinkex.emulator.process import EmulatorProcess

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
