"""The emulator's streaming sampling route, through SamplingClient.sample_stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import tinkex
from tinkex import types
from tinkex.emulator.run.process import EmulatorProcess

KEY = "tml-stream-key"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tinkex.ServiceClient]:
    with EmulatorProcess(tmp_path_factory.mktemp("emu")) as emu, \
            tinkex.ServiceClient(base_url=emu.base_url, api_key=KEY) as client:
        yield client


def prompt(text: str) -> types.ModelInput:
    return types.ModelInput.from_ints([256, *text.encode()])


def test_tokens_stream_in_order_and_match_a_sample_with_the_same_seed(service):
    sampler = service.create_sampling_client(base_model="tinkex/tiny-lm")
    params = types.SamplingParams(max_tokens=12, temperature=0.8, seed=42)
    events = list(sampler.sample_stream(prompt("Hello"), params))
    tokens = [e for e in events if e.type == types.SampleStreamEventType.token]
    done = events[-1]
    assert done.type == types.SampleStreamEventType.done and done.num_tokens == len(tokens)
    assert [e.index for e in tokens] == list(range(len(tokens)))
    assert all(e.logprob is not None and e.logprob <= 0 for e in tokens)
    sampled = sampler.sample(prompt("Hello"), 1, params).result().sequences[0]
    assert [e.token for e in tokens] == sampled.tokens
    assert done.stop_reason == sampled.stop_reason


def test_the_first_token_arrives_before_generation_ends(service):
    sampler = service.create_sampling_client(base_model="tinkex/tiny-lm")
    stream = sampler.sample_stream(prompt("Once"), {"max_tokens": 200, "temperature": 0.0})
    first = next(stream)
    assert first.type == types.SampleStreamEventType.token and first.index == 0
    # the server is still generating: the response has not ended
    assert not stream.closed
    stream.close()
    assert stream.closed
    # the connection pool is fine afterwards
    assert len(list(sampler.sample_stream(prompt("x"), {"max_tokens": 2}))) == 3


def test_bad_input_is_an_http_error_before_the_stream(service):
    sampler = service.create_sampling_client(base_model="tinkex/tiny-lm")
    with pytest.raises(tinkex.BadRequestError, match="top_p"):
        sampler.sample_stream(prompt("x"), {"max_tokens": 2, "top_p": 0.0})
    with pytest.raises(tinkex.NotFoundError):
        service.api.sampling.sample_stream(sampling_session_id="nope", prompt=prompt("x"),
                                           sampling_params=types.SamplingParams(max_tokens=1))


def test_streams_run_in_parallel(service):
    sampler = service.create_sampling_client(base_model="tinkex/tiny-lm")
    results: dict[int, int] = {}

    def run(i: int) -> None:
        events = list(sampler.sample_stream(prompt(f"p{i}"), {"max_tokens": 5, "seed": i}))
        results[i] = events[-1].num_tokens or 0

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [0, 1, 2, 3] and all(0 < n <= 5 for n in results.values())
