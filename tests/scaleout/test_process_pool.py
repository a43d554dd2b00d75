"""Sampling clients in process pools: lazy joining, one context per process, own seq_id blocks,
identical seeded results, clean exits and clear errors when a worker dies."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest
import scaleout_helpers as workers
from scaleout_helpers import wait_until

import tinkex
from tinkex import _worker_context as worker_context
from tinkex import types
from tinkex.core.errors import ClientClosedError
from tinkex.types import ClientConfigResponse

PROMPTS = [[256, *b"Once"], [256, *b"The"], [256, *b"Dear"], [256, *b"In a"]]
HAS_FORK = "fork" in multiprocessing.get_all_start_methods()


def tinkex_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("tinkex-")}


def test_a_copy_starts_nothing_until_it_samples_and_close_stops_what_it_started(
        sampler: tinkex.SamplingClient) -> None:
    # The original samples first: its own pool may grow while it does, which is not the copy's.
    expected = workers.sample_tokens(sampler, PROMPTS[0])
    before = tinkex_threads()
    copy = pickle.loads(pickle.dumps(sampler))
    assert copy.get_tokenizer().encode("hi", add_special_tokens=False) == [104, 105]  # no server
    assert worker_context.shared_contexts() == [] and tinkex_threads() == before

    assert workers.sample_tokens(copy, PROMPTS[0]) == expected
    [context] = worker_context.shared_contexts()
    assert tinkex_threads() > before and not context.closed
    copy.close()
    assert context.closed and worker_context.shared_contexts() == []
    wait_until(lambda: tinkex_threads() <= before, "the copy's threads to stop",
               left=lambda: sorted(t.name for t in tinkex_threads() - before))
    with pytest.raises(ClientClosedError, match="closed"):
        copy.sample(types.ModelInput.from_ints(PROMPTS[0]), 1, workers.PARAMS).result()
    # The session is still the creator's: closing a copy did not finish it.
    workers.sample_tokens(sampler, PROMPTS[1])


def test_copies_in_one_process_share_a_context_and_the_server_issues_blocks(
        sampler: tinkex.SamplingClient) -> None:
    payload = pickle.dumps(sampler)
    first, second = pickle.loads(payload), pickle.loads(payload)
    try:
        assert workers.sample_tokens(first, PROMPTS[0]) == workers.sample_tokens(second,
                                                                                 PROMPTS[0])
        [context] = worker_context.shared_contexts()
        # join_sampling_session issued this process block 1: seq_ids 1e9, 1e9 + 1, ...
        # (the two samples above took the first two).
        block = context.sequencer.reserve("asample", sampler.sampling_session_id, 1)
        assert block.numbers.start == 1_000_000_002
        block.release_unclaimed()
        first.close()
        assert not context.closed  # the second copy still uses it
    finally:
        second.close()
    assert context.closed


def test_without_server_blocks_a_copy_draws_its_block_at_random(
        sampler: tinkex.SamplingClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(sampler._ctx), "server_config",
                        property(lambda self: ClientConfigResponse()))  # flag off
    with pickle.loads(pickle.dumps(sampler)) as copy:
        workers.sample_tokens(copy, PROMPTS[0])
        [context] = worker_context.shared_contexts()
        block = context.sequencer.reserve("asample", sampler.sampling_session_id, 1)
        assert 1_000_000_000 < block.numbers.start <= 10**18 + 1
        block.release_unclaimed()


def test_seeded_fan_out_over_four_spawn_workers_matches_in_process(
        example: ModuleType, sampler: tinkex.SamplingClient) -> None:
    jobs = [example.Job(tuple(p), seed=50 + i) for i, p in enumerate(PROMPTS * 2)]
    local = example.Threads(4)
    pool = example.Processes(4)
    try:
        fanned = pool.map(example.rollout, sampler, jobs)
        here = local.map(example.rollout, sampler, jobs)
    finally:
        pool.close()
        local.close()
    assert fanned == here  # tokens, logprobs and rewards, exactly
    assert len({r.tokens for group in here for r in group}) > len(PROMPTS)  # not all alike
    assert os.getpid() not in {r.worker for group in fanned for r in group}
    assert multiprocessing.active_children() == []


@pytest.mark.skipif(not HAS_FORK, reason="needs the fork start method")
def test_forked_workers_do_not_reuse_the_parents_seq_ids(sampler: tinkex.SamplingClient) -> None:
    """A sampler inherited through fork (not pickled) numbers in the child's own block.

    Otherwise every child sends the parent's next seq_id, and the server answers
    all of them with the first one's result (it takes the others for resends).
    """
    here = [workers.sample_tokens(sampler, p)[0] for p in PROMPTS]
    fork = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(4, mp_context=fork, initializer=workers.keep_inherited,
                             initargs=(sampler,)) as pool:
        there = list(pool.map(workers.sample_inherited, PROMPTS))
    assert [tokens for _, tokens in there] == here
    assert len({tuple(t) for t in here}) == len(PROMPTS)


@pytest.mark.parametrize("method", ["spawn", pytest.param("fork", marks=pytest.mark.skipif(
    not HAS_FORK, reason="needs the fork start method"))])
def test_a_worker_closes_its_connection_when_it_exits(
        method: str, sampler: tinkex.SamplingClient, tmp_path: Path) -> None:
    marker = tmp_path / "closed"
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(method)) as pool:
        pid, idle, busy = pool.submit(workers.sample_and_report_close, pickle.dumps(sampler),
                                      str(marker)).result()
        assert idle == [] and busy  # no thread in the worker before it sampled
        assert not marker.exists()  # the worker still holds it while it lives
    assert marker.read_text() == f"closed=True pid={pid}"
    workers.sample_tokens(sampler, PROMPTS[0])  # the creator's session carries on


def test_a_plain_interpreter_closes_its_connection_at_exit(
        sampler: tinkex.SamplingClient, tmp_path: Path) -> None:
    """As a Ray worker does (it leaves through sys.exit, hence atexit)."""
    marker, payload = tmp_path / "closed", tmp_path / "sampler.pickle"
    payload.write_bytes(pickle.dumps(sampler))
    code = (f"import pathlib, scaleout_helpers as w; "
            f"w.sample_and_report_close(pathlib.Path({str(payload)!r}).read_bytes(), "
            f"{str(marker)!r}); assert not pathlib.Path({str(marker)!r}).exists()")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(workers.__file__).parent),
                                                       os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert marker.read_text().startswith("closed=True")


def test_a_worker_killed_mid_rollout_is_a_clear_error_in_the_trainer(
        example: ModuleType) -> None:
    engine = example.Processes(2)
    try:
        with pytest.raises(example.RolloutWorkerDied, match="died mid-rollout"):
            example.train(engine, 1, fn=workers.die_mid_rollout)
    finally:
        engine.close()
    wait_until(lambda: multiprocessing.active_children() == [], "the pool's processes to end")


def test_the_objects_of_a_rollout_pickle(sampler: tinkex.SamplingClient) -> None:
    prompt = types.ModelInput(chunks=[types.EncodedTextChunk(tokens=PROMPTS[0]),
                                      types.ImageAssetPointerChunk(
                                          format="png", location="tinker://x/img.png",
                                          expected_tokens=4)])
    params = types.SamplingParams(max_tokens=4, seed=3, stop=["\n"], temperature=0.5)
    response = sampler.sample(types.ModelInput.from_ints(PROMPTS[1]), 2, params,
                              include_prompt_logprobs=True, topk_prompt_logprobs=2).result()
    for value in (prompt, params, response, sampler.retry_config):
        assert pickle.loads(pickle.dumps(value)) == value
    error = tinkex.RequestFailedError("bad input", "req-1", tinkex.RequestErrorCategory.USER)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)
