"""``SamplingClient``: generate from a base model or from saved sampler weights.

Samples are independent, so many can be in flight at once (within the
manifest's dispatch limits). Backpressure is expected: a 429 on submit means
"not now" — the client waits briefly and resubmits the same ``seq_id``. A result
that expired (410) or a transient failure makes it resubmit the whole sample
with a fresh ``seq_id``, until ``RetryConfig.progress_timeout`` runs out.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tinkex import _worker_context as worker_context
from tinkex._context import ClientContext, relay_queue_state
from tinkex._worker_context import JoinTicket
from tinkex.core.errors import (
    APIConnectionError,
    APIStatusError,
    ClientClosedError,
    FutureExpiredError,
    RateLimitError,
)
from tinkex.core.futures import APIFuture
from tinkex.core.streaming import Stream
from tinkex.tokenizers import get_tokenizer
from tinkex.types import ModelInput, SampleResponse, SampleStreamEvent, SamplingParams

log = logging.getLogger("tinkex.sampling")

LARGE_PROMPT_BYTES = 128 * 1024
BYTES_PER_TOKEN = 10
_RETRY_STATUSES = {408, 409, 429}


@dataclass(frozen=True)
class RetryConfig:
    """How a sample is retried as a whole (resubmitted) after a transient failure."""

    retry_delay_base: float = 0.5
    retry_delay_max: float = 10.0
    jitter_factor: float = 0.25
    progress_timeout: float = 7200.0
    """Give up when a sample has been retried for this long without succeeding."""
    enable_retry_logic: bool = True


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


# Guards binding a client to a context (first use, fork, close); replaced in a forked
# child, where a parent's thread may have held it.
_binding = threading.Lock()


def _new_binding_lock() -> None:
    global _binding
    _binding = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_binding_lock)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (APIConnectionError, FutureExpiredError)):
        return True
    if isinstance(exc, APIStatusError):
        return exc.status_code in _RETRY_STATUSES or exc.status_code >= 500
    return False


class SamplingClient:
    """Samples from one sampling session; create it with a Service or Training client.

    Picklable, for process pools and Ray: a copy unpickled in another process
    (or the client itself, inherited by a forked child) joins the same server
    session when it first samples, through connections of that process's own
    that every copy there shares (see :mod:`tinkex._worker_context`), and numbers
    its samples in a block of that process's own. Until then it starts no thread
    and opens no connection. :meth:`close` on a copy, or the worker's exit,
    closes those connections; the session stays its creator's to finish.
    """

    def __init__(self, context: ClientContext, sampling_session_id: str, *,
                 base_model: str | None = None, retry_config: RetryConfig | None = None) -> None:
        self._setup(JoinTicket.of(context), sampling_session_id, base_model, retry_config)
        self._bound: ClientContext | None = context
        self._joined = False  # True when _bound is this process's shared context

    def _setup(self, ticket: JoinTicket, sampling_session_id: str, base_model: str | None,
               retry_config: RetryConfig | None) -> None:
        self._ticket = ticket
        self.sampling_session_id = sampling_session_id
        self._base_model = base_model
        self.retry_config = retry_config or RetryConfig()
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
               include_prompt_logprobs: bool = False, topk_prompt_logprobs: int = 0
               ) -> APIFuture[SampleResponse]:
        """Generate ``num_samples`` continuations of ``prompt``.

        Blocks only while the request is submitted (and, under backpressure,
        while the server asks us to wait); the result arrives in the future.
        """
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1 (got {num_samples})")
        if isinstance(sampling_params, dict):
            sampling_params = SamplingParams.model_validate(sampling_params)
        self._ctx  # noqa: B018 -- a copy joins its session here, so that a failure raises here
        request = {"prompt": prompt, "num_samples": num_samples,
                   "sampling_params": sampling_params, "prompt_logprobs": include_prompt_logprobs,
                   "topk_prompt_logprobs": topk_prompt_logprobs}
        outer: APIFuture[SampleResponse] = APIFuture()
        self._attempt(outer, request, time.monotonic(), 0)
        return outer

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
                outer._settle(with_sequence_ids(f.result(), inner.submit_response))
            else:
                self._retry_or_fail(outer, request, started, attempt, exc)

        inner.add_done_callback(done)
        outer._on_cancel = lambda: None if inner.cancel() else None

    def _submit(self, request: dict[str, Any], seq_id: int) -> APIFuture[SampleResponse]:
        """One submit; on 429 wait (1 s, or 5 s for a large prompt) and resend the same seq_id."""
        prompt: ModelInput = request["prompt"]
        pause = 5.0 if prompt.length * BYTES_PER_TOKEN > LARGE_PROMPT_BYTES else 1.0
        while True:
            try:
                future: APIFuture[SampleResponse] = self._ctx.api.sampling.asample(
                    sampling_session_id=self.sampling_session_id, seq_id=seq_id, **request)
                return future
            except RateLimitError:
                log.debug("sampling backpressure: waiting %.0f s before resubmitting", pause)
                time.sleep(pause)

    def _retry_or_fail(self, outer: APIFuture[SampleResponse], request: dict[str, Any],
                       started: float, attempt: int, exc: BaseException) -> None:
        cfg = self.retry_config
        elapsed = time.monotonic() - started
        if not (cfg.enable_retry_logic and _retryable(exc)) or elapsed >= cfg.progress_timeout:
            outer._settle(exc=exc)
            return
        delay = min(cfg.retry_delay_base * 2 ** attempt, cfg.retry_delay_max)
        delay *= 1 + cfg.jitter_factor * (2 * random.random() - 1)
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
            sampling_params = SamplingParams.model_validate(sampling_params)
        stream: Stream[SampleStreamEvent] = self._ctx.api.sampling.sample_stream(
            sampling_session_id=self.sampling_session_id, prompt=prompt,
            sampling_params=sampling_params)
        return stream

    def compute_logprobs(self, prompt: ModelInput) -> APIFuture[list[float | None]]:
        """Log-probability of each prompt token given the ones before it (None for the first)."""
        response = self.sample(prompt, 1, SamplingParams(max_tokens=1),
                               include_prompt_logprobs=True)
        logprobs = response.map(lambda r: list(r.prompt_logprobs or []))
        relay_queue_state(response, logprobs)
        return logprobs

    # ---- information --------------------------------------------------------------------

    def get_base_model(self) -> str:
        """The base model behind this sampler."""
        with self._lock:
            if self._base_model is None:
                sampler = self._ctx.api.sampling.get_sampler(sampler_id=self.sampling_session_id)
                self._base_model = sampler.base_model
            return self._base_model

    def get_tokenizer(self) -> Any:
        """The base model's tokenizer (a byte tokenizer for the emulator's models)."""
        return get_tokenizer(None, self.get_base_model())

    # ---- pickling -----------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {"ticket": self._ticket, "sampling_session_id": self.sampling_session_id,
                "base_model": self._base_model, "retry_config": self.retry_config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["ticket"], state["sampling_session_id"], state["base_model"],
                    state["retry_config"])
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
