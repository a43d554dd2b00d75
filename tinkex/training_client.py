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
from typing import TYPE_CHECKING, Any, TypeVar

from tinkex import chunking, console
from tinkex._context import ClientContext, relay_queue_state
from tinkex.core.futures import APIFuture, CombinedFuture
from tinkex.core.sequencing import SequenceBlock
from tinkex.tokenizers import get_tokenizer
from tinkex.types import (
    AdamParams,
    Datum,
    ForwardBackwardInput,
    ForwardBackwardOutput,
    GetInfoResponse,
    LoadWeightsResponse,
    LossFnType,
    OptimStepResponse,
    SaveWeightsForSamplerResponse,
    SaveWeightsForSamplerResponseInternal,
    SaveWeightsResponse,
)

if TYPE_CHECKING:
    from tinkex.sampling_client import RetryConfig, SamplingClient

LossFn = Callable[..., Any]
Saved = TypeVar("Saved", SaveWeightsResponse, SaveWeightsForSamplerResponse)


def _named_sampler_weights(saved: SaveWeightsForSamplerResponseInternal
                           ) -> SaveWeightsForSamplerResponse:
    """The public result of a named save: its path is always set."""
    if not saved.path:
        raise RuntimeError("the server did not return a path for the saved sampler weights")
    return SaveWeightsForSamplerResponse(path=saved.path)


def as_datums(data: Sequence[Datum | Mapping[str, Any]]) -> list[Datum]:
    """Datums from Datum objects or plain mappings (lists and arrays are converted)."""
    return [d if isinstance(d, Datum) else Datum.model_validate(d) for d in data]


class TrainingClient:
    """Trains one model (a LoRA adapter) on the server; create it with a ServiceClient."""

    def __init__(self, context: ClientContext, model_id: str) -> None:
        self._ctx = context
        self.model_id = model_id
        self._info: GetInfoResponse | None = None
        self._info_lock = threading.Lock()

    # ---- passes -------------------------------------------------------------------------

    def forward(self, data: Sequence[Datum | Mapping[str, Any]], loss_fn: str,
                loss_fn_config: Mapping[str, float] | None = None
                ) -> APIFuture[ForwardBackwardOutput]:
        """Compute the loss and per-token outputs without gradients."""
        return self._chunked("forward", data, loss_fn, loss_fn_config)

    def forward_backward(self, data: Sequence[Datum | Mapping[str, Any]], loss_fn: str,
                         loss_fn_config: Mapping[str, float] | None = None
                         ) -> APIFuture[ForwardBackwardOutput]:
        """Compute the loss and accumulate its gradients (applied by :meth:`optim_step`).

        Large batches are split into requests of at most 1024 datums and about
        5 MB; the results are recombined in order, metrics reduced by suffix.
        """
        return self._chunked("forward_backward", data, loss_fn, loss_fn_config)

    def _chunked(self, operation: str, data: Sequence[Datum | Mapping[str, Any]], loss_fn: str,
                 loss_fn_config: Mapping[str, float] | None) -> APIFuture[ForwardBackwardOutput]:
        chunks = self.split_batch(as_datums(data), operation)
        with self.reserve_seq_ids(len(chunks)) as block:
            return self.submit_chunks(operation, chunks, loss_fn, loss_fn_config, block,
                                      block.numbers)

    def split_batch(self, data: Sequence[Datum], *operations: str) -> list[list[Datum]]:
        """Chunks for passes of ``operations``, sized for the encoding their requests use.

        Several operations (a custom loss's forward and backward passes, which
        must chunk alike): every chunk fits each of their encodings.
        """
        return chunking.split_batch(data, estimate=self._ctx.pass_wire.estimate(*operations))

    def reserve_seq_ids(self, count: int) -> SequenceBlock:
        """Take ``count`` consecutive seq_ids now (in program order) for requests sent later."""
        return self._ctx.sequencer.reserve("forward_backward", self.model_id, count)

    def submit_chunks(self, operation: str, chunks: Sequence[Sequence[Datum]],
                      loss_fn: str, loss_fn_config: Mapping[str, float] | None,
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
                                 encode_body=route.encode_body)
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
                                loss_fn: LossFn, *, backend: str = "auto"
                                ) -> APIFuture[ForwardBackwardOutput]:
        """Train on a loss computed here, from the model's per-token logprobs.

        See :mod:`tinkex.custom_loss`: one forward pass fetches the logprobs,
        ``loss_fn`` turns them into a loss and its gradient (with torch when it
        is installed, else with numpy), and a second pass back-propagates that
        gradient through the model.
        """
        from tinkex.custom_loss import forward_backward_custom

        return forward_backward_custom(self, data, loss_fn, backend=backend)

    # ---- optimizer and checkpoints -------------------------------------------------------

    def optim_step(self, adam_params: AdamParams | Mapping[str, float] | None = None
                   ) -> APIFuture[OptimStepResponse]:
        """Apply the accumulated gradients with AdamW, then clear them."""
        params = (adam_params if isinstance(adam_params, AdamParams)
                  else AdamParams.model_validate(adam_params or {}))
        future: APIFuture[OptimStepResponse] = self._ctx.api.training.optim_step(
            model_id=self.model_id, adam_params=params)
        return future

    def save_state(self, name: str, ttl_seconds: int | None = None
                   ) -> APIFuture[SaveWeightsResponse]:
        """Save weights and optimizer state as ``tinker://<run>/weights/<name>``."""
        future: APIFuture[SaveWeightsResponse] = self._ctx.api.training.save_weights(
            model_id=self.model_id, path=name, ttl_seconds=ttl_seconds)
        linked = future.map(self._linked)
        relay_queue_state(future, linked)
        return linked

    def _linked(self, saved: Saved) -> Saved:
        """``saved`` with its console links pointing at this client's console."""
        saved._console = console.ConsoleBase(self._ctx.console_base_url)
        return saved

    def load_state(self, path: str) -> APIFuture[LoadWeightsResponse]:
        """Load weights (not optimizer state) from a training checkpoint."""
        return self._load(path, optimizer=False)

    def load_state_with_optimizer(self, path: str) -> APIFuture[LoadWeightsResponse]:
        """Load weights and optimizer state from a training checkpoint."""
        return self._load(path, optimizer=True)

    def _load(self, path: str, *, optimizer: bool) -> APIFuture[LoadWeightsResponse]:
        from tinkex.paths import TinkerPath

        TinkerPath.parse(path)
        future: APIFuture[LoadWeightsResponse] = self._ctx.api.training.load_weights(
            model_id=self.model_id, path=path, optimizer=optimizer)
        return future

    def save_weights_for_sampler(self, name: str, ttl_seconds: int | None = None
                                 ) -> APIFuture[SaveWeightsForSamplerResponse]:
        """Save sampler weights as ``tinker://<run>/sampler_weights/<name>``."""
        future: APIFuture[SaveWeightsForSamplerResponseInternal] = (
            self._ctx.api.training.save_weights_for_sampler(
                model_id=self.model_id, path=name, ttl_seconds=ttl_seconds))
        named = future.map(lambda saved: self._linked(_named_sampler_weights(saved)))
        relay_queue_state(future, named)
        return named

    def save_weights_and_get_sampling_client(self, name: str | None = None,
                                             retry_config: RetryConfig | None = None
                                             ) -> SamplingClient:
        """Snapshot the current weights (ephemerally) and return a client that samples them.

        ``name`` is accepted for compatibility and ignored: the snapshot is not a
        named checkpoint (use :meth:`save_weights_for_sampler` for one).
        """
        from tinkex.sampling_client import SamplingClient

        ctx = self._ctx
        saved = ctx.api.training.save_weights_for_sampler(
            model_id=self.model_id,
            sampling_session_seq_id=ctx.next_number("sampling_session_seq_id")).result()
        if not saved.sampling_session_id:
            raise RuntimeError("the server did not return a sampling session for the snapshot")
        return SamplingClient(ctx, saved.sampling_session_id, base_model=self._base_model(),
                              retry_config=retry_config)

    def save_weights_and_get_sampling_client_future(self, name: str | None = None
                                                    ) -> APIFuture[SamplingClient]:
        """Non-blocking twin of :meth:`save_weights_and_get_sampling_client`."""
        return self._ctx.in_background(self.save_weights_and_get_sampling_client, name)

    def create_sampling_client(self, model_path: str,
                               retry_config: RetryConfig | None = None) -> SamplingClient:
        """A sampling client for sampler weights saved earlier (a ``tinker://`` path)."""
        from tinkex.service_client import ServiceClient

        service = ServiceClient.__new__(ServiceClient)
        service._ctx = self._ctx
        return service.create_sampling_client(model_path=model_path, retry_config=retry_config)

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

    def _base_model(self) -> str | None:
        return self.get_info().model_data.model_name

    def get_tokenizer(self) -> Any:
        """The model's tokenizer (``encode``/``decode``; a byte tokenizer on the emulator)."""
        data = self.get_info().model_data
        return get_tokenizer(data.tokenizer_id, data.model_name)

    def __repr__(self) -> str:
        return f"<TrainingClient {self.model_id}>"


__all__ = ["TrainingClient"]
