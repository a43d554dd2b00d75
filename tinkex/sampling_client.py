"""``SamplingClient``: generate from a base model or from saved sampler weights.

Samples are independent, so many can be in flight at once (within the
manifest's dispatch limits). Backpressure is expected: a backoff status (429) on
submit means "not now" — the client waits as the dispatch limit's ``backpressure``
says and resubmits the same ``seq_id``. A result that expired (410) or a
transient failure makes it resubmit the whole sample with a fresh ``seq_id``, as
the manifest's ``resample`` retry policy says (``RetryConfig`` overrides it).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tinkex import _worker_context as worker_context
from tinkex._context import ClientContext, relay_queue_state
from tinkex._resolved import ResolvedClient
from tinkex._twins import Offloads, awaiting
from tinkex._worker_context import JoinTicket
from tinkex.core.errors import (
    APIConnectionError,
    APIStatusError,
    ClientClosedError,
    ConfigError,
    FutureExpiredError,
    InvalidArgumentError,
    checking_arguments,
)
from tinkex.core.futures import APIFuture
from tinkex.core.model.document import DispatchLimitSpec
from tinkex.core.model.operations import OperationTable
from tinkex.core.options import given
from tinkex.core.retry import Backoff, RetryPolicy
from tinkex.core.streaming import Stream
from tinkex.paths import TinkerPath
from tinkex.tokenizers import get_tokenizer
from tinkex.types import (
    ModelInput,
    SampleResponse,
    SampleStreamEvent,
    SamplingParams,
    TensorData,
)

if TYPE_CHECKING:
    from tinkex.core.telemetry import TelemetryReporter

log = logging.getLogger("tinkex.sampling")

HANDLE_PREFIX = "tinkex-sampler:"
RESAMPLE_POLICY = "resample"
"""The manifest's retry policy for resubmitting a whole sample."""


@dataclass(frozen=True)
class RetryConfig:
    """How a sample is retried as a whole (resubmitted) after a transient failure.

    Each value left None is the manifest's ``resample`` retry policy's: its
    backoff's ``initial``, ``max`` and ``jitter``, and its ``budget_seconds``.
    """

    retry_delay_base: float | None = None
    retry_delay_max: float | None = None
    jitter_factor: float | None = None
    progress_timeout: float | None = None
    """Give up when a sample has been retried for this long without succeeding."""
    enable_retry_logic: bool = True

    def resolved(self, policy: RetryPolicy) -> RetryPolicy:
        """``policy`` with this config's values laid over it."""
        b = policy.backoff
        backoff = Backoff(initial=_given(self.retry_delay_base, b.initial),
                          max=_given(self.retry_delay_max, b.max), multiplier=b.multiplier,
                          jitter=_given(self.jitter_factor, b.jitter))
        budget = policy.budget_seconds if self.progress_timeout is None else self.progress_timeout
        return replace(policy, backoff=backoff, budget_seconds=budget)


def _given(value: float | None, default: float) -> float:
    return default if value is None else value


def with_sequence_ids(response: SampleResponse, submitted: Any) -> SampleResponse:
    """``response`` with each sequence's ``sequence_id`` from the submit's ``sample_sequence_ids``.

    The ids are not part of the result payload (JSON or protobuf); the server
    returns them with the future, one per sequence in order (SDK >= 0.26 copy
    them the same way). Left unset when the server sent none or a wrong count.
    """
    ids = getattr(submitted, "sample_sequence_ids", None)
    if ids and len(ids) == len(response.sequences):
        for sequence, sequence_id in zip(response.sequences, ids, strict=True):
            if sequence.sequence_id is None:
                sequence.sequence_id = sequence_id
    return response


def _check_request(include_prompt_logprobs: bool, target_prompt_logprobs: TensorData | None,
                   prompt_alt_tokens_k: int, prompt_logprobs_last_n: int | None) -> None:
    """Refuse here, naming the argument, what the server would refuse later."""
    if target_prompt_logprobs is not None:
        dtype = getattr(target_prompt_logprobs.dtype, "value", target_prompt_logprobs.dtype)
        if dtype != "int64":
            raise InvalidArgumentError(f"target_prompt_logprobs must be an int64 tensor of token ids, "
                             f"not {dtype}")
        shape = target_prompt_logprobs.shape
        if shape is None or len(shape) != 2:
            raise InvalidArgumentError(f"target_prompt_logprobs must be 2-D, [len(prompt) - 1, K], "
                             f"not of shape {shape}")
    if prompt_alt_tokens_k < 0:
        raise InvalidArgumentError(f"prompt_alt_tokens_k must be 0 or more, not {prompt_alt_tokens_k}")
    if prompt_logprobs_last_n is not None:
        if prompt_logprobs_last_n < 1:
            raise InvalidArgumentError(f"prompt_logprobs_last_n must be 1 or more, "
                             f"not {prompt_logprobs_last_n}")
        if not include_prompt_logprobs:
            raise InvalidArgumentError("prompt_logprobs_last_n needs include_prompt_logprobs=True")


def _check_honoured(response: SampleResponse, prompt_alt_tokens_k: int,
                    prompt_logprobs_last_n: int | None) -> SampleResponse:
    """Fail loudly when a server that predates an option silently ignored it."""
    if prompt_alt_tokens_k > 0 and response.prompt_alt_tokens is None:
        raise RuntimeError(f"prompt_alt_tokens_k={prompt_alt_tokens_k} was requested but the "
                           "server returned no prompt_alt_tokens (it may predate them)")
    logprobs = response.prompt_logprobs
    if prompt_logprobs_last_n is not None and logprobs is not None:
        skipped = logprobs[:max(0, len(logprobs) - prompt_logprobs_last_n)]
        if any(value is not None and value == value for value in skipped):  # NaN = not scored
            raise RuntimeError(f"prompt_logprobs_last_n={prompt_logprobs_last_n} was requested "
                               "but the server scored earlier prompt tokens too (it may "
                               "predate the option)")
    return response


# Guards binding a client to a context (first use, fork, close); replaced in a forked
# child, where a parent's thread may have held it.
_binding = threading.Lock()


def _new_binding_lock() -> None:
    global _binding
    _binding = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_binding_lock)


def _resample_policy(table: OperationTable) -> RetryPolicy:
    policy = table.retry_policies.get(RESAMPLE_POLICY)
    if policy is None:
        raise ConfigError(f"the API document has no {RESAMPLE_POLICY!r} retry policy, which "
                          "says how a failed sample is submitted again")
    return policy


def _retryable(exc: BaseException, policy: RetryPolicy) -> bool:
    """Whether ``policy`` resubmits a sample that failed with ``exc`` (an expired result
    always: asking for it again cannot help)."""
    if isinstance(exc, FutureExpiredError):
        return True
    if isinstance(exc, APIConnectionError):
        return policy.connection_errors
    if isinstance(exc, APIStatusError):
        return exc.status_code in policy.statuses
    return False


class SamplingClient(Offloads, ResolvedClient):
    """Samples from one sampling session; create it with a Service or Training client.

    Picklable, for process pools and Ray: a copy unpickled in another process
    (or the client itself, inherited by a forked child) joins the same server
    session when it first samples, through connections of that process's own
    that every copy there shares (see :mod:`tinkex._worker_context`), and numbers
    its samples in a block of that process's own. Until then it starts no thread
    and opens no connection. :meth:`close` on a copy, or the worker's exit,
    closes those connections; the session stays its creator's to finish.
    ``sample_async``, ``compute_logprobs_async`` and ``get_base_model_async``
    are the twins for coroutines (or ``await sampler.sample(...)``).
    """

    def __init__(self, context: ClientContext, sampling_session_id: str, *,
                 base_model: str | None = None, retry_config: RetryConfig | None = None,
                 record_stability_info: bool = False) -> None:
        self._setup(JoinTicket.of(context), sampling_session_id, base_model, retry_config,
                    record_stability_info)
        self._bound: ClientContext | None = context
        self._joined = False  # True when _bound is this process's shared context

    @classmethod
    def create(cls, context: ClientContext, *, model_path: str | None = None,
               base_model: str | None = None, retry_config: RetryConfig | None = None,
               record_stability_info: bool = False) -> SamplingClient:
        """Open a sampling session of ``context``'s session on ``model_path`` or ``base_model``."""
        if (model_path is None) == (base_model is None):
            raise InvalidArgumentError("pass exactly one of model_path or base_model")
        if model_path is not None:
            TinkerPath.parse(model_path)
        created = context.api.sampling.create_sampling_session(
            session_id=context.session_id,
            sampling_session_seq_id=context.next_number("sampling_session_seq_id"),
            base_model=given(base_model), model_path=given(model_path))
        return cls(context, created.sampling_session_id, base_model=base_model,
                   retry_config=retry_config, record_stability_info=record_stability_info)

    def _setup(self, ticket: JoinTicket, sampling_session_id: str, base_model: str | None,
               retry_config: RetryConfig | None, record_stability_info: bool = False) -> None:
        self._ticket = ticket
        self.sampling_session_id = sampling_session_id
        self._base_model = base_model
        self.retry_config = retry_config or RetryConfig()
        self.record_stability_info = record_stability_info
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False

    @property
    def _ctx(self) -> ClientContext:
        """The context this process samples through; a copy joins the session on first use."""
        bound = self._bound
        if bound is not None and self._pid == os.getpid():
            return bound
        return self._join()

    def _join(self) -> ClientContext:
        """Bind to this process's shared context (joining may send requests, and may raise)."""
        with _binding:
            if self._bound is None or self._pid != os.getpid():
                if self._closed:
                    raise ClientClosedError("this SamplingClient is closed")
                # A forked child must not number through the parent's context: it would
                # send the parent's (and every sibling's) next seq_ids.
                self._bound = worker_context.join(self._ticket, self.sampling_session_id)
                self._pid, self._joined = os.getpid(), True
            return self._bound

    # ---- sampling -----------------------------------------------------------------------

    def sample(self, prompt: ModelInput, num_samples: int, sampling_params: SamplingParams,
               include_prompt_logprobs: bool = False, topk_prompt_logprobs: int = 0,
               topk_sample_logprobs: int = 0, target_prompt_logprobs: TensorData | None = None,
               prompt_alt_tokens_k: int = 0, prompt_logprobs_last_n: int | None = None
               ) -> APIFuture[SampleResponse]:
        """Generate ``num_samples`` continuations of ``prompt``.

        Blocks only while the request is submitted (and, under backpressure,
        while the server asks us to wait); the result arrives in the future.

        Besides the samples: ``include_prompt_logprobs`` scores each prompt
        token (``prompt_logprobs_last_n``: only the last N),
        ``topk_prompt_logprobs`` / ``topk_sample_logprobs`` add the k likeliest
        tokens at each prompt / sampled position, ``target_prompt_logprobs`` (an
        int64 ``[len(prompt) - 1, K]`` tensor of token ids, -1 for none) scores
        chosen tokens at each prompt position, and ``prompt_alt_tokens_k`` draws
        k alternative tokens per prompt position.
        """
        if num_samples < 1:
            raise InvalidArgumentError(f"num_samples must be at least 1 (got {num_samples})")
        if isinstance(sampling_params, dict):
            with checking_arguments("sample(): sampling_params"):
                sampling_params = SamplingParams.model_validate(sampling_params)
        self._ctx  # noqa: B018 -- a copy joins its session here, so that a failure raises here
        _check_request(include_prompt_logprobs, target_prompt_logprobs, prompt_alt_tokens_k,
                       prompt_logprobs_last_n)
        request: dict[str, Any] = {
            "prompt": prompt, "num_samples": num_samples, "sampling_params": sampling_params,
            "prompt_logprobs": include_prompt_logprobs,
            "topk_prompt_logprobs": topk_prompt_logprobs}
        # Options left at their defaults stay off the wire, as a 0.24-era client sends it.
        if topk_sample_logprobs:
            request["topk_sample_logprobs"] = topk_sample_logprobs
        if target_prompt_logprobs is not None:
            request["target_prompt_logprobs"] = target_prompt_logprobs
        if prompt_alt_tokens_k:
            request["prompt_alt_tokens_k"] = prompt_alt_tokens_k
        if prompt_logprobs_last_n is not None:
            request["prompt_logprobs_last_n"] = prompt_logprobs_last_n
        if self.record_stability_info:
            request["record_stability_info"] = True
        outer: APIFuture[SampleResponse] = APIFuture()
        outer.add_queue_state_observer(self.on_queue_state_change)
        self._attempt(outer, request, time.monotonic(), 0)
        if not (prompt_alt_tokens_k or prompt_logprobs_last_n is not None):
            return outer
        checked = outer.map(lambda r: _check_honoured(r, prompt_alt_tokens_k,
                                                      prompt_logprobs_last_n))
        relay_queue_state(outer, checked)
        return checked

    sample_async = awaiting(sample)

    def _next_seq_id(self) -> int:
        with self._ctx.sequencer.reserve("asample", self.sampling_session_id, 1) as block:
            return block.numbers.start

    def _attempt(self, outer: APIFuture[SampleResponse], request: dict[str, Any],
                 started: float, attempt: int) -> None:
        if outer.done():  # cancelled meanwhile
            return
        try:
            inner = self._submit(request, self._next_seq_id())
        except Exception as exc:
            self._retry_or_fail(outer, request, started, attempt, exc)
            return
        outer.request_id = inner.request_id
        relay_queue_state(inner, outer)

        def done(f: Any) -> None:
            if f.cancelled():
                outer.cancel()
                return
            exc = f.exception()
            if exc is None:
                outer.settle(with_sequence_ids(f.result(), inner.submit_response))
            else:
                self._retry_or_fail(outer, request, started, attempt, exc)

        inner.add_done_callback(done)
        outer.when_cancelled(lambda: None if inner.cancel() else None)
        outer.waits_on(inner)  # a caller blocked on the sample polls for it

    def _submit(self, request: dict[str, Any], seq_id: int) -> APIFuture[SampleResponse]:
        """One submit; on a backoff status wait as the dispatch limit's backpressure says
        and resend the same seq_id."""
        limit = self._dispatch_limit()
        backpressure = limit.backpressure if limit is not None else None
        prompt: ModelInput = request["prompt"]
        while True:
            try:
                future = self._ctx.api.sampling.asample(
                    sampling_session_id=self.sampling_session_id, seq_id=seq_id, **request)
                return future
            except APIStatusError as exc:
                if (backpressure is None or limit is None
                        or exc.status_code not in limit.backoff_statuses):
                    raise
                pause = backpressure.pause(prompt.length)
                log.debug("sampling backpressure: waiting %.0f s before resubmitting", pause)
                time.sleep(pause)

    def _dispatch_limit(self) -> DispatchLimitSpec | None:
        table = self._ctx.engine.table
        name = table["asample"].dispatch
        return table.dispatch_limits.get(name) if name is not None else None

    def _retry_or_fail(self, outer: APIFuture[SampleResponse], request: dict[str, Any],
                       started: float, attempt: int, exc: BaseException) -> None:
        cfg = self.retry_config
        try:
            policy = cfg.resolved(_resample_policy(self._ctx.engine.table))
        except ConfigError as problem:  # settle, never raise: this may run in a callback
            outer.settle(exc=problem)
            return
        elapsed = time.monotonic() - started
        budget = policy.budget_seconds
        if (not (cfg.enable_retry_logic and _retryable(exc, policy))
                or (budget is not None and elapsed >= budget)
                or (policy.max_attempts is not None and attempt + 1 >= policy.max_attempts)):
            outer.settle(exc=exc)
            return
        delay = policy.backoff.delay(attempt, random.random())
        log.debug("resubmitting a sample after %s (attempt %d, in %.2f s)",
                  type(exc).__name__, attempt + 1, delay)

        def again() -> None:
            self._attempt(outer, request, started, attempt + 1)

        self._ctx.poller.pool.schedule(again, delay)

    def sample_stream(self, prompt: ModelInput,
                      sampling_params: SamplingParams | Mapping[str, Any]
                      ) -> Stream[SampleStreamEvent]:
        """Sample one sequence and get each token the moment the server generates it.

        Iterate the returned :class:`~tinkex.core.streaming.Stream`: one
        ``type="token"`` event per token (``index``, ``token``, ``logprob``), then a
        ``type="done"`` event (``stop_reason``, ``num_tokens``). The request is
        retried until the first byte; leaving the loop early (or ``close()``)
        stops reading. Needs a server with the streaming route (the emulator has it).
        """
        if not isinstance(sampling_params, SamplingParams):
            with checking_arguments("sample_stream(): sampling_params"):
                sampling_params = SamplingParams.model_validate(sampling_params)
        stream: Stream[SampleStreamEvent] = self._ctx.api.sampling.sample_stream(
            sampling_session_id=self.sampling_session_id, prompt=prompt,
            sampling_params=sampling_params)
        return stream

    def compute_logprobs(self, prompt: ModelInput, prompt_logprobs_last_n: int | None = None
                         ) -> APIFuture[list[float | None]]:
        """Log-probability of each prompt token given the ones before it (None for the first).

        ``prompt_logprobs_last_n`` scores only the last N tokens (the others are None).
        """
        response = self.sample(prompt, 1, SamplingParams(max_tokens=1),
                               include_prompt_logprobs=True,
                               prompt_logprobs_last_n=prompt_logprobs_last_n)
        logprobs = response.map(lambda r: list(r.prompt_logprobs or []))
        relay_queue_state(response, logprobs)
        return logprobs

    compute_logprobs_async = awaiting(compute_logprobs)

    # ---- information --------------------------------------------------------------------

    def get_base_model(self) -> str:
        """The base model behind this sampler."""
        with self._lock:
            if self._base_model is None:
                sampler = self._ctx.api.sampling.get_sampler(sampler_id=self.sampling_session_id)
                self._base_model = sampler.base_model
            return self._base_model

    get_base_model_async = awaiting(get_base_model)

    def get_tokenizer(self) -> Any:
        """The base model's tokenizer (a byte tokenizer for the emulator's models)."""
        return get_tokenizer(None, self.get_base_model())

    def get_telemetry(self) -> TelemetryReporter | None:
        """The reporter that sends this client's telemetry events."""
        return self._ctx.telemetry

    def on_queue_state_change(self, queue_state: str, queue_state_reason: str | None) -> None:
        """Called when the server reports a new queue state for one of this client's samples.

        Logs it; override in a subclass to react (e.g. to ``paused_rate_limit``).
        """
        log.info("sampling queue %s%s", queue_state,
                 f" ({queue_state_reason})" if queue_state_reason else "")

    # ---- handles and pickling -----------------------------------------------------------

    def get_sampler_handle(self) -> str:
        """A string that :meth:`from_sampler_handle` turns back into a client of this sampler.

        It names the server, the session and the sampler, never the API key: the
        process that uses it brings its own credentials.
        """
        state = {"base_url": self._ticket.base_url, "session_id": self._ticket.session_id,
                 "wire_format": self._ticket.wire_format,
                 "sampling_session_id": self.sampling_session_id,
                 "base_model": self._base_model}
        return HANDLE_PREFIX + base64.urlsafe_b64encode(
            json.dumps(state, sort_keys=True).encode()).decode()

    @classmethod
    def from_sampler_handle(cls, handle: str, *, api_key: str | None = None) -> SamplingClient:
        """A client of the sampler that :meth:`get_sampler_handle` described (close it when done)."""
        if not isinstance(handle, str) or not handle.startswith(HANDLE_PREFIX):
            raise InvalidArgumentError("not a sampler handle (they come from get_sampler_handle)")
        try:
            state = json.loads(base64.urlsafe_b64decode(handle[len(HANDLE_PREFIX):]))
        except ValueError as exc:
            raise InvalidArgumentError(f"a damaged sampler handle: {exc}") from None
        try:
            ticket = JoinTicket(base_url=state["base_url"], session_id=state["session_id"],
                                wire_format=state.get("wire_format", "auto"), api_key=api_key)
            sampler_id, base_model = state["sampling_session_id"], state.get("base_model")
        except (KeyError, TypeError) as exc:
            raise InvalidArgumentError(f"a damaged sampler handle: {exc}") from None
        client = cls.__new__(cls)
        client.__setstate__({"ticket": ticket, "sampling_session_id": sampler_id,
                             "base_model": base_model, "retry_config": RetryConfig()})
        return client

    def __getstate__(self) -> dict[str, Any]:
        return {"ticket": self._ticket, "sampling_session_id": self.sampling_session_id,
                "base_model": self._base_model, "retry_config": self.retry_config,
                "record_stability_info": self.record_stability_info}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["ticket"], state["sampling_session_id"], state["base_model"],
                    state["retry_config"], state.get("record_stability_info", False))
        self._bound, self._joined = None, True  # joins on first use, in whatever process

    # ---- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Release a copy's share of its process's connections (the last one closes them).

        The session stays its creator's to finish. A client made by a Service or
        Training client shares that client's connection: closing the
        ServiceClient closes it, and this does nothing.
        """
        with _binding:
            if not self._joined:
                return
            bound, self._bound, self._closed = self._bound, None, True
            if bound is not None and self._pid == os.getpid():
                worker_context.leave(self._ticket, bound)

    def __enter__(self) -> SamplingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SamplingClient {self.sampling_session_id}>"


__all__ = ["RetryConfig", "SamplingClient"]
