"""The public clients against a real emulator process on loopback: every public method."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import tinkex
from tinkex import types
from tinkex.emulator.run.process import EmulatorProcess

KEY = "tml-integration-key"
SENTENCE = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmulatorProcess(tmp_path_factory.mktemp("emu"), args=["--poll-hold", "5"]) as emu:
        yield emu.base_url


@pytest.fixture
def service(base_url: str) -> Iterator[tinkex.ServiceClient]:
    with tinkex.ServiceClient(base_url=base_url, api_key=KEY) as client:
        yield client


@pytest.fixture
def training(service: tinkex.ServiceClient) -> tinkex.TrainingClient:
    return service.create_lora_training_client(base_model="tinkex/micro-lm", rank=4, seed=1)


def sentence_datum(tok, text: str = SENTENCE) -> types.Datum:
    ids = [*tok.encode(text), tok.eos_token_id]  # encode() starts with <bos>
    return types.Datum(model_input=ids[:-1],
                       loss_fn_inputs={"target_tokens": ids[1:], "weights": [1.0] * (len(ids) - 1)})


def test_capabilities_and_info(service, training):
    models = {m.model_name for m in service.get_server_capabilities().supported_models}
    assert {"tinkex/tiny-lm", "tinkex/micro-lm"} <= models
    info = training.get_info()
    assert info.model_id == training.model_id and info.model_data.model_name == "tinkex/micro-lm"
    assert info.lora_rank == 4
    tok = training.get_tokenizer()
    assert tok.decode(tok.encode("héllo"), skip_special_tokens=True) == "héllo"


def test_training_loop_learns_and_pipelines(training):
    tok = training.get_tokenizer()
    data = [sentence_datum(tok)] * 4
    losses = []
    pending = []
    for _ in range(15):  # submit everything first: calls pipeline
        pending.append((training.forward_backward(data, "cross_entropy"),
                        training.optim_step(types.AdamParams(learning_rate=2e-2))))
    for fb, opt in pending:
        losses.append(fb.result().metrics["loss:sum"])
        assert opt.result() is not None
    assert losses[-1] < 0.5 * losses[0]
    out = training.forward(data[:1], "cross_entropy").result()
    assert len(out.loss_fn_outputs) == 1
    assert out.loss_fn_outputs[0]["logprobs"].to_numpy().shape == (len(tok.encode(SENTENCE)),)


def test_forward_backward_splits_large_batches_and_recombines(training):
    data = [types.Datum(model_input=[256, 65 + i % 26], loss_fn_inputs={
        "target_tokens": [65 + i % 26, 257], "weights": [1.0, 1.0]}) for i in range(1100)]
    whole = training.forward(data, "cross_entropy").result()
    assert len(whole.loss_fn_outputs) == 1100  # two chunks of 1024 + 76, in order
    first = training.forward(data[:1024], "cross_entropy").result()
    rest = training.forward(data[1024:], "cross_entropy").result()
    assert whole.metrics["loss:sum"] == pytest.approx(
        first.metrics["loss:sum"] + rest.metrics["loss:sum"], rel=1e-5)
    np.testing.assert_allclose(whole.loss_fn_outputs[1050]["logprobs"].to_numpy(),
                               rest.loss_fn_outputs[26]["logprobs"].to_numpy(), rtol=1e-5)


def test_custom_loss_numpy_matches_cross_entropy(training):
    tok = training.get_tokenizer()
    data = [sentence_datum(tok)]

    def nll(batch, logprobs):
        loss = float(-sum(lp.sum() for lp in logprobs))
        return loss, {"tokens:sum": float(sum(lp.size for lp in logprobs))}, \
            [-np.ones_like(lp) for lp in logprobs]

    reference = training.forward(data, "cross_entropy").result().metrics["loss:sum"]
    out = training.forward_backward_custom(data, nll, backend="numpy").result()
    assert out.metrics["loss:sum"] == pytest.approx(reference, rel=1e-4)
    assert out.metrics["surrogate_loss:sum"] == pytest.approx(reference, rel=1e-4)
    assert out.metrics["tokens:sum"] == len(tok.encode(SENTENCE))
    training.optim_step(types.AdamParams(learning_rate=1e-2)).result()
    with pytest.raises(TypeError, match="loss, metrics, grads"):
        training.forward_backward_custom(data, lambda b, lp: (0.0, {}), backend="numpy").result()


def test_seq_ids_follow_call_order_across_threads(training):
    tok = training.get_tokenizer()
    data = [sentence_datum(tok)]
    barrier = threading.Barrier(4)
    results = []

    def worker():
        barrier.wait()
        results.append(training.forward(data, "cross_entropy").result())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4  # no gap or reorder made the server wait or fail


def test_checkpoints_save_load_and_sampling(service, training, tmp_path):
    tok = training.get_tokenizer()
    state = training.save_state("ckpt", ttl_seconds=7200).result()
    assert state.path.startswith("tinker://") and state.path.endswith("/weights/ckpt")
    assert training.load_state(state.path).result() is not None
    assert training.load_state_with_optimizer(state.path).result() is not None
    sampler_path = training.save_weights_for_sampler("s1").result().path
    assert sampler_path.endswith("/sampler_weights/s1")

    prompt = types.ModelInput.from_ints(tok.encode("The"))
    params = types.SamplingParams(max_tokens=12, temperature=0.7, seed=5)
    for sampler in (training.save_weights_and_get_sampling_client(),
                    training.create_sampling_client(sampler_path),
                    service.create_sampling_client(model_path=sampler_path),
                    service.create_sampling_client_future(base_model="tinkex/micro-lm").result()):
        a = sampler.sample(prompt, 2, params).result()
        b = sampler.sample(prompt, 2, params).result()
        assert [s.tokens for s in a.sequences] == [s.tokens for s in b.sequences]
        assert len(a.sequences) == 2 and all(s.stop_reason in ("stop", "length")
                                             for s in a.sequences)
        assert sampler.get_base_model() == "tinkex/micro-lm"
        assert sampler.get_tokenizer().eos_token_id == 257
    logprobs = sampler.compute_logprobs(prompt).result()
    assert logprobs[0] is None and len(logprobs) == prompt.length and all(
        lp < 0 for lp in logprobs[1:])
    top = sampler.sample(prompt, 1, types.SamplingParams(max_tokens=1),
                         include_prompt_logprobs=True, topk_prompt_logprobs=3).result()
    assert len(top.topk_prompt_logprobs[1]) == 3

    restored = service.create_training_client_from_state(state.path)
    assert restored.get_info().lora_rank == 4 and restored.model_id != training.model_id
    with_opt = service.create_training_client_from_state_with_optimizer(state.path)
    assert with_opt.forward_backward([sentence_datum(tok)], "cross_entropy").result()
    assert service.create_training_client_from_state_future(state.path).result().model_id


def test_rest_client_covers_runs_checkpoints_sessions(service, training, tmp_path):
    rest = service.create_rest_client()
    path = training.save_state("rest").result().path
    sampler_path = training.save_weights_for_sampler("rest-s").result().path
    run = rest.get_training_run(training.model_id).result()
    assert run.training_run_id == training.model_id and run.base_model == "tinkex/micro-lm"
    assert rest.get_training_run_by_tinker_path(path).result() == run
    page = rest.list_training_runs(limit=1).result()
    assert page.cursor.limit == 1 and page.cursor.total_count >= 1
    assert training.model_id in {r.training_run_id for r in rest.iter_training_runs(page_size=1)}
    ids = {c.checkpoint_id for c in rest.list_checkpoints(training.model_id).result().checkpoints}
    assert {"weights/rest", "sampler_weights/rest-s"} <= ids
    assert path in {c.tinker_path for c in rest.iter_user_checkpoints(page_size=1)}
    assert rest.list_user_checkpoints(limit=1).result().checkpoints
    info = rest.get_weights_info_by_tinker_path(path).result()
    assert info.base_model == "tinkex/micro-lm" and info.lora_rank == 4
    rest.publish_checkpoint_from_tinker_path(path).result()
    with pytest.raises(tinkex.ConflictError):
        rest.publish_checkpoint_from_tinker_path(path).result()
    rest.unpublish_checkpoint_from_tinker_path(path).result()
    rest.set_checkpoint_ttl_from_tinker_path(path, 7200).result()
    rest.set_checkpoint_ttl_from_tinker_path(path, None).result()
    url = rest.get_checkpoint_archive_url_from_tinker_path(path).result()
    assert url.url.startswith("http")
    assert rest.get_checkpoint_archive_url(training.model_id, "weights/rest").result().url
    out = tinkex.checkpoints.download(rest, path, tmp_path, progress=False)
    assert any(p.is_file() for p in Path(out).rglob("*"))
    with pytest.raises(FileExistsError):
        tinkex.checkpoints.download(rest, path, tmp_path, progress=False)
    assert tinkex.checkpoints.download(rest, path, tmp_path, force=True, progress=False) == out
    session = rest.get_session(service.session_id).result()
    assert training.model_id in session.training_run_ids
    assert service.session_id in rest.list_sessions(limit=100).result().sessions
    assert service.session_id in set(rest.iter_sessions(page_size=2))
    sampler = training.save_weights_and_get_sampling_client()
    assert rest.get_sampler(sampler.sampling_session_id).result().base_model == "tinkex/micro-lm"
    assert rest.get_server_capabilities().result().supported_models
    rest.delete_checkpoint_from_tinker_path(sampler_path).result()
    rest.delete_checkpoint(training.model_id, "weights/rest").result()
    with pytest.raises(tinkex.NotFoundError):
        rest.get_weights_info_by_tinker_path(path).result()
    with pytest.raises(ValueError, match="kind"):
        rest.delete_checkpoint(training.model_id, "bogus")


def test_direct_rest_client_has_no_session(base_url):
    with tinkex.RestClient(base_url=base_url, api_key=KEY) as rest:
        assert rest.list_training_runs().result().cursor.total_count >= 0


def test_parallel_creation_with_future_twins(service):
    futures = [service.create_sampling_client_future(base_model="tinkex/micro-lm")
               for _ in range(4)]
    futures.append(service.create_lora_training_client_future("tinkex/micro-lm", rank=2))
    done, _ = concurrent.futures.wait(futures, timeout=60)
    assert len(done) == 5
    ids = {f.result().sampling_session_id for f in futures[:4]}
    assert len(ids) == 4 and futures[4].result().model_id


def _sample_in_worker(payload: bytes) -> list[int]:
    with pickle.loads(payload) as sampler:
        prompt = types.ModelInput.from_ints([256, 84, 104, 101])
        result = sampler.sample(prompt, 1, types.SamplingParams(max_tokens=6, seed=3)).result()
        return list(result.sequences[0].tokens)


def test_sampling_client_pickles_into_spawn_workers(service):
    sampler = service.create_sampling_client(base_model="tinkex/micro-lm")
    payload = pickle.dumps(sampler)
    assert KEY.encode() in payload  # the key travels to the worker ...
    assert KEY not in repr(sampler) and KEY not in repr(service)  # ... but never in a repr
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        outputs = pool.map(_sample_in_worker, [payload, payload])
    local = _sample_in_worker(payload)
    assert outputs == [local, local]


def test_unknown_base_model_is_a_clear_error(service):
    with pytest.raises(tinkex.BadRequestError, match="tinkex/tiny-lm"):
        service.create_lora_training_client(base_model="no/such-model", rank=2)


def test_bad_loss_input_fails_the_future_as_a_user_error(training):
    datum = types.Datum(model_input=[256, 65], loss_fn_inputs={"target_tokens": [65, 257]})
    with pytest.raises(tinkex.RequestFailedError) as info:
        training.forward_backward([datum], "importance_sampling").result()
    assert info.value.category == tinkex.RequestErrorCategory.USER
    assert "advantages" in str(info.value) or "logprobs" in str(info.value)


def test_close_finishes_the_session_and_joins_threads(base_url):
    before = threading.active_count()
    for status in ("success", "errored", "interrupted"):
        client = tinkex.ServiceClient(base_url=base_url, api_key=KEY)
        client.create_sampling_client(base_model="tinkex/micro-lm")
        client.close(status)
    with pytest.raises(RuntimeError), tinkex.ServiceClient(base_url=base_url, api_key=KEY) as c:
        c.create_sampling_client(base_model="tinkex/micro-lm")
        raise RuntimeError("boom")
    assert threading.active_count() == before


def test_sampling_under_429_backpressure(tmp_path):
    args = ["--fault-429-rate", "0.5", "--fault-seed", "7", "--poll-hold", "5"]
    with EmulatorProcess(tmp_path / "emu429", args=args) as emu, \
            tinkex.ServiceClient(base_url=emu.base_url, api_key=KEY) as service:
        sampler = service.create_sampling_client(base_model="tinkex/micro-lm")
        prompt = types.ModelInput.from_ints([256, 72])
        futures = [sampler.sample(prompt, 1, types.SamplingParams(max_tokens=3, seed=i))
                   for i in range(4)]
        assert all(len(f.result(timeout=60).sequences) == 1 for f in futures)


def _forgotten_clients(base_url: str) -> None:
    for _ in range(3):
        service = tinkex.ServiceClient(base_url=base_url, api_key=KEY)
        service.create_sampling_client(base_model="tinkex/micro-lm")  # session + heartbeat


def _wait_for_threads(count: int, deadline: float = 10.0) -> bool:
    import gc
    import time

    end = time.monotonic() + deadline
    while time.monotonic() < end:
        gc.collect()
        if threading.active_count() <= count:
            return True
        threading.Event().wait(0.05)
    return False


def test_forgotten_clients_stop_their_threads_when_collected(base_url):
    before = threading.active_count()
    _forgotten_clients(base_url)
    assert _wait_for_threads(before), [t.name for t in threading.enumerate()]


def test_a_pending_future_keeps_its_forgotten_client_alive(base_url):
    import gc

    before = threading.active_count()
    tok_prompt = types.ModelInput.from_ints([256, 72, 105])
    future = (tinkex.ServiceClient(base_url=base_url, api_key=KEY)
              .create_sampling_client(base_model="tinkex/micro-lm")
              .sample(tok_prompt, 1, types.SamplingParams(max_tokens=4, seed=1)))
    gc.collect()
    assert len(future.result(timeout=60).sequences) == 1
    del future
    assert _wait_for_threads(before), [t.name for t in threading.enumerate()]


def test_whoami_over_jwt_auth_and_calls_keep_working(base_url: str, service) -> None:
    with tinkex.RestClient(base_url=base_url, api_key=KEY) as rest:
        me = rest.whoami().result()
        assert me.user_urn.startswith("tml:user:") and me.org_urn.startswith("tml:organization:")
        assert me.email and "@" in me.email
        # from now on this client sends JWTs; the emulator takes them for the same account
        run = service.create_lora_training_client(base_model="tinkex/micro-lm", rank=2)
        listed = [r.training_run_id for r in rest.list_training_runs(limit=100).result()
                  .training_runs]
        assert run.model_id in listed
        assert rest._ctx.credentials is not None and rest._ctx.credentials.enabled


def test_the_tokenizer_chats_like_the_official_one(training) -> None:
    tok = training.get_tokenizer()
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}],
                                     add_generation_prompt=True, tokenize=True)
    # the ids transformers gives for the emulator's tokenizer files (conformance checks it)
    assert prompt["input_ids"] == [256, *b"<|user|>\nhi", 257, *b"<|assistant|>\n"]
    assert tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False) == \
        "<bos><|user|>\nhi<eos>"
