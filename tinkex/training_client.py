"""``TrainingClient``: forward/backward passes, optimizer steps and checkpoints of one model.

Every training request carries a per-model ``seq_id``, taken when the method is
called (so ids follow program order, even across threads). The server executes
requests in ``seq_id`` order, so methods only wait for the *submit* of the
previous request, never for its result: calls pipeline, and each returns an
:class:`~tinkex.APIFuture`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from tinkex import chunking, console
from tinkex._context import ClientContext, relay_queue_state
from tinkex._resolved import ResolvedClient
from tinkex._twins import Offloads, awaiting, backgrounded, submitting
from tinkex.core.errors import InvalidArgumentError, checking_arguments
from tinkex.core.futures import APIFuture, CombinedFuture
from tinkex.core.options import NOT_GIVEN, RequestOptions, given
from tinkex.core.sequencing import SequenceBlock
from tinkex.custom_loss import forward_backward_custom
from tinkex.loss_handle import LossHandle
from tinkex.paths import TinkerPath
from tinkex.sampling_client import RetryConfig, SamplingClient
from tinkex.tokenizers import get_tokenizer
from tinkex.types import (
    AdamParams,
    Datum,
    DimuonParams,
    ForwardBackwardInput,
    ForwardBackwardOutput,
    GetInfoResponse,
    LoadWeightsResponse,
    LossFnType,
    OptimStepResponse,
    SaveWeightsExternalResponse,
    SaveWeightsForSamplerResponse,
    SaveWeightsForSamplerResponseInternal,
    SaveWeightsResponse,
)

if TYPE_CHECKING:
    from tinkex.core.telemetry import TelemetryReporter


LossFn = Callable[..., Any]
LossFnConfig = Mapping[str, "float | str"]
SamplingClientKind = Literal["snapshot", "inflight"]
Saved = TypeVar("Saved", SaveWeightsResponse, SaveWeightsForSamplerResponse)


def _named_sampler_weights(saved: SaveWeightsForSamplerResponseInternal
                           ) -> SaveWeightsForSamplerResponse:
    """The public result of a named save: its path is always set."""
    if not saved.path:
        raise RuntimeError("the server did not return a path for the saved sampler weights")
    return SaveWeightsForSamplerResponse(path=saved.path)


def _external_weights(saved: Any) -> SaveWeightsExternalResponse:
    if not saved.path:
        raise RuntimeError("the server did not return a path for the exported weights")
    return SaveWeightsExternalResponse(path=saved.path, size_bytes=saved.size_bytes)


class TrainingClient(Offloads, ResolvedClient):
    """Trains one model (a LoRA adapter) on the server; create it with a ServiceClient.

    Every method has an ``*_async`` twin for coroutines. The twins of the
    pipelined calls (passes, optimizer steps, saves, loads) return the request's
    future once it is submitted, like the blocking methods; they submit in the
    order they are called, so their ``seq_id`` follow that order too.
    """

    _ctx: ClientContext

    def __init__(self, context: ClientContext, model_id: str) -> None:
        self._ctx = context
        self._lane = context.offloader.lane()
        self.model_id = model_id
        self._info: GetInfoResponse | None = None
        self._info_lock = threading.Lock()

    # ---- passes -------------------------------------------------------------------------

    def forward(self, data: Sequence[Datum | Mapping[str, Any]], loss_fn: str,
                loss_fn_config: LossFnConfig | None = None) -> APIFuture[ForwardBackwardOutput]:
        """Compute the loss and per-token outputs without gradients."""
        return self._chunked("forward", data, loss_fn, loss_fn_config)

    def forward_backward(self, data: Sequence[Datum | Mapping[str, Any]], loss_fn: str,
                         loss_fn_config: LossFnConfig | None = None
                         ) -> APIFuture[ForwardBackwardOutput]:
        """Compute the loss and accumulate its gradients (applied by :meth:`optim_step`).

        Large batches are split into requests of at most 1024 datums and about
        5 MB; the results are recombined in order, metrics reduced by suffix.
        """
        return self._chunked("forward_backward", data, loss_fn, loss_fn_config)

    forward_async = submitting(forward)
    forward_backward_async = submitting(forward_backward)

    def _chunked(self, operation: str, data: Sequence[Datum | Mapping[str, Any]], loss_fn: str,
                 loss_fn_config: LossFnConfig | None) -> APIFuture[ForwardBackwardOutput]:
        chunks = self.split_batch(chunking.as_datums(data), operation)
        with self.reserve_seq_ids(len(chunks)) as block:
            return self.submit_chunks(operation, chunks, loss_fn, loss_fn_config, block,
                                      block.numbers)

    def split_batch(self, data: Sequence[Datum], *operations: str) -> list[list[Datum]]:
        """Chunks for passes of ``operations``, sized for the encoding their requests use.

        Several operations (a custom loss's forward and backward passes, which
        must chunk alike): every chunk fits each of their encodings.
        """
        limits = chunking.chunk_limits(*operations, table=self._ctx.engine.table)
        return chunking.split_batch(data, estimate=self._ctx.pass_wire.estimate(*operations),
                                    limits=limits)

    def reserve_seq_ids(self, count: int) -> SequenceBlock:
        """Take ``count`` consecutive seq_ids now (in program order) for requests sent later."""
        return self._ctx.sequencer.reserve("forward_backward", self.model_id, count)

    def submit_chunks(self, operation: str, chunks: Sequence[Sequence[Datum]],
                      loss_fn: str, loss_fn_config: LossFnConfig | None,
                      block: SequenceBlock, numbers: Sequence[int]
                      ) -> APIFuture[ForwardBackwardOutput]:
        """Submit one request per chunk with the given reserved seq_ids; combine the results.

        The requests go where :attr:`ClientContext.pass_wire` routes ``operation``
        (a protobuf ``forward`` is a ``forward_backward`` with ``forward_only``, and
        the route names the body field that carries the batch). A protobuf
        body is encoded by the engine after the sequencer numbered it, so it
        carries its ``seq_id`` and keeps its turn.
        """
        route = self._ctx.pass_wire.route(operation)
        call = functools.partial(self._ctx.engine.call, route.operation,
                                 RequestOptions(encode_body=route.encode_body))
        futures: list[APIFuture[ForwardBackwardOutput]] = []
        config: dict[str, float | str] | None = dict(loss_fn_config) if loss_fn_config else None
        for number, chunk in zip(numbers, chunks, strict=True):
            batch = ForwardBackwardInput(data=list(chunk), loss_fn=LossFnType(loss_fn),
                                         loss_fn_config=config)
            with block.claim(number):
                body: dict[str, Any] = {"model_id": self.model_id, route.input_field: batch}
                futures.append(call(**body))
        if len(futures) == 1:
            return futures[0]
        combined = CombinedFuture(futures, chunking.combine_outputs)
        for future in futures:
            relay_queue_state(future, combined)
        return combined

    def forward_backward_custom(self, data: Sequence[Datum | Mapping[str, Any]],
                                loss_fn: LossFn, *,
                                loss_type_input: Literal["logprobs"] | None = None,
                                backend: str = "auto") -> APIFuture[ForwardBackwardOutput]:
        """Train on a loss computed here, from the model's per-token logprobs.

        See :mod:`tinkex.custom_loss`: one forward pass fetches the logprobs,
        ``loss_fn`` turns them into a loss and its gradient (with torch when it
        is installed, else with numpy), and a second pass back-propagates that
        gradient through the model. ``loss_type_input`` names what ``loss_fn``
        receives; logprobs are the only kind.
        """
        if loss_type_input not in (None, "logprobs"):
            raise InvalidArgumentError(f"loss_type_input must be 'logprobs' or None, "
                             f"not {loss_type_input!r}")
        if isinstance(loss_fn, LossHandle):
            datums = chunking.as_datums(data)
            loss_fn.check(datums)
            return forward_backward_custom(self, datums, loss_fn.batch_loss(), backend="torch")
        return forward_backward_custom(self, data, loss_fn, backend=backend)

    forward_backward_custom_async = submitting(forward_backward_custom)

    # ---- optimizer and checkpoints -------------------------------------------------------

    def optim_step(self, optim_params: AdamParams | DimuonParams | Mapping[str, Any] | None = None,
                   *, adam_params: AdamParams | Mapping[str, float] | None = None
                   ) -> APIFuture[OptimStepResponse]:
        """Apply the accumulated gradients, then clear them.

        ``optim_params`` are :class:`AdamParams` (AdamW, the default) or
        :class:`DimuonParams` (for a model created with the Dimuon optimizer);
        ``adam_params`` is the older spelling of the first.
        """
        if optim_params is not None and adam_params is not None:
            raise InvalidArgumentError("pass optim_params or adam_params, not both")
        params = optim_params if optim_params is not None else adam_params
        if isinstance(params, DimuonParams) or (
                isinstance(params, Mapping) and params.get("type") == "dimuon"):
            with checking_arguments("optim_step(): optim_params"):
                dimuon = (params if isinstance(params, DimuonParams)
                          else DimuonParams.model_validate(params))
            future = self._ctx.api.training.optim_step(
                model_id=self.model_id, optimizer_params=dimuon)
            return future
        with checking_arguments("optim_step(): adam_params"):
            adam = (params if isinstance(params, AdamParams)
                    else AdamParams.model_validate(params or {}))
        future = self._ctx.api.training.optim_step(model_id=self.model_id, adam_params=adam)
        return future

    optim_step_async = submitting(optim_step)

    def save_state(self, name: str, ttl_seconds: int | None = None, overwrite: bool = False,
                   user_metadata: Mapping[str, str] | None = None
                   ) -> APIFuture[SaveWeightsResponse]:
        """Save weights and optimizer state as ``tinker://<run>/weights/<name>``.

        ``overwrite`` replaces an existing checkpoint of that name;
        ``user_metadata`` is stored with the checkpoint.
        """
        future = self._ctx.api.training.save_weights(
            model_id=self.model_id, path=name, ttl_seconds=given(ttl_seconds), overwrite=overwrite,
            user_metadata=dict(user_metadata) if user_metadata else NOT_GIVEN)
        linked = future.map(self._linked)
        relay_queue_state(future, linked)
        return linked

    def _linked(self, saved: Saved) -> Saved:
        """``saved`` with its console links pointing at this client's console."""
        saved._console = console.ConsoleBase(self._ctx.console_base_url)
        return saved

    save_state_async = submitting(save_state)

    def load_state(self, path: str, weights_access_token: str | None = None
                   ) -> APIFuture[LoadWeightsResponse]:
        """Load weights (not optimizer state) from a training checkpoint.

        ``weights_access_token`` opens a checkpoint of another account.
        """
        return self._load(path, weights_access_token, optimizer=False)

    def load_state_with_optimizer(self, path: str, weights_access_token: str | None = None
                                  ) -> APIFuture[LoadWeightsResponse]:
        """Load weights and optimizer state from a training checkpoint."""
        return self._load(path, weights_access_token, optimizer=True)

    load_state_async = submitting(load_state)
    load_state_with_optimizer_async = submitting(load_state_with_optimizer)

    def _load(self, path: str, weights_access_token: str | None, *,
              optimizer: bool) -> APIFuture[LoadWeightsResponse]:
        TinkerPath.parse(path)
        future = self._ctx.api.training.load_weights(
            model_id=self.model_id, path=path, optimizer=optimizer,
            weights_access_token=given(weights_access_token))
        return future

    def save_weights_for_sampler(self, name: str, ttl_seconds: int | None = None,
                                 user_metadata: Mapping[str, str] | None = None
                                 ) -> APIFuture[SaveWeightsForSamplerResponse]:
        """Save sampler weights as ``tinker://<run>/sampler_weights/<name>``."""
        future = (
            self._ctx.api.training.save_weights_for_sampler(
                model_id=self.model_id, path=name, ttl_seconds=given(ttl_seconds),
                user_metadata=dict(user_metadata) if user_metadata else NOT_GIVEN,
                kind="snapshot"))
        named = future.map(lambda saved: self._linked(_named_sampler_weights(saved)))
        relay_queue_state(future, named)
        return named

    save_weights_for_sampler_async = submitting(save_weights_for_sampler)

    def save_weights_external(self, name: str, ttl_seconds: int | None = None,
                              age_encryption_recipients: list[str] | None = None
                              ) -> APIFuture[SaveWeightsExternalResponse]:
        """Export the weights in HuggingFace format as ``tinker://<run>/external_weights/<name>``.

        ``age_encryption_recipients`` (at most 10 age public keys) encrypts the
        export for them. Download it with :meth:`RestClient.get_external_weights_urls`.
        """
        future = self._ctx.api.training.save_weights_external(
            model_id=self.model_id, path=name, ttl_seconds=given(ttl_seconds),
            age_encryption_recipients=given(age_encryption_recipients))
        public = future.map(_external_weights)
        relay_queue_state(future, public)
        return public

    save_weights_external_async = submitting(save_weights_external)

    def save_weights_and_get_sampling_client(self, name: str | None = None,
                                             retry_config: RetryConfig | None = None,
                                             record_stability_info: bool = False,
                                             kind: SamplingClientKind = "snapshot"
                                             ) -> SamplingClient:
        """Save the current weights (ephemerally) and return a client that samples them.

        ``name`` is accepted for compatibility and ignored: the weights are not a
        named checkpoint (use :meth:`save_weights_for_sampler` for one).
        ``kind="inflight"`` lets the server serve the weights without a full
        snapshot (SDK 0.38); ``record_stability_info`` is as for
        :meth:`ServiceClient.create_sampling_client`.
        """
        if kind not in ("snapshot", "inflight"):
            raise InvalidArgumentError(f"kind must be 'snapshot' or 'inflight', not {kind!r}")
        ctx = self._ctx
        saved = ctx.api.training.save_weights_for_sampler(
            model_id=self.model_id,
            sampling_session_seq_id=ctx.next_number("sampling_session_seq_id"),
            kind=kind).result()
        if not saved.sampling_session_id:
            raise RuntimeError("the server did not return a sampling session for the snapshot")
        return SamplingClient(ctx, saved.sampling_session_id, base_model=self._base_model(),
                              retry_config=retry_config,
                              record_stability_info=record_stability_info)

    save_weights_and_get_sampling_client_future = backgrounded(
        save_weights_and_get_sampling_client, ordered=True)
    save_weights_and_get_sampling_client_async = awaiting(
        save_weights_and_get_sampling_client, ordered=True)

    def create_sampling_client(self, model_path: str, retry_config: RetryConfig | None = None,
                               record_stability_info: bool = False) -> SamplingClient:
        """A sampling client for sampler weights saved earlier (a ``tinker://`` path)."""
        return SamplingClient.create(self._ctx, model_path=model_path, retry_config=retry_config,
                                     record_stability_info=record_stability_info)

    create_sampling_client_async = awaiting(create_sampling_client)

    # ---- information --------------------------------------------------------------------

    def get_console_url(self) -> str:
        """This training run's page in the console (the emulator's, against an emulator)."""
        return console.training_run_url(self.model_id, self._ctx.console_base_url())

    def get_info(self) -> GetInfoResponse:
        """Model information (base model, LoRA rank, tokenizer id); fetched once."""
        with self._info_lock:
            if self._info is None:
                self._info = self._ctx.api.training.get_info(model_id=self.model_id)
            return self._info

    get_info_async = awaiting(get_info)

    def get_telemetry(self) -> TelemetryReporter | None:
        """The reporter that sends this client's telemetry events."""
        return self._ctx.telemetry

    def _base_model(self) -> str | None:
        return self.get_info().model_data.model_name

    def get_tokenizer(self) -> Any:
        """The model's tokenizer (``encode``/``decode``; a byte tokenizer on the emulator)."""
        data = self.get_info().model_data
        return get_tokenizer(data.tokenizer_id, data.model_name)

    def __repr__(self) -> str:
        return f"<TrainingClient {self.model_id}>"


__all__ = ["TrainingClient"]
