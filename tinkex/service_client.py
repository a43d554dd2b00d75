"""``ServiceClient``: the entry point that creates training, sampling and REST clients."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Literal

from tinkex import console
from tinkex._context import ClientContext
from tinkex._twins import Offloads, awaiting, backgrounded
from tinkex.core.errors import InvalidArgumentError, checking_arguments
from tinkex.core.futures import APIFuture
from tinkex.core.metrics import MetricsSnapshot
from tinkex.core.options import NOT_GIVEN, given
from tinkex.core.telemetry import TelemetryReporter
from tinkex.core.transport import HTTPTransport
from tinkex.loss_handle import LossHandle, PerDatumLossFn, make_handle
from tinkex.paths import TinkerPath
from tinkex.rest_client import RestClient
from tinkex.sampling_client import RetryConfig, SamplingClient
from tinkex.training_client import TrainingClient
from tinkex.types import GetServerCapabilitiesResponse, LoraConfig, OptimizerConfig
from tinkex.wire import WireFormat

if TYPE_CHECKING:
    from tinkex._api import TinkerAPI


FinishStatus = Literal["success", "errored", "interrupted"]


class ServiceClient(Offloads):
    """A connection to the Tinker API (or a local emulator) for one session.

    Configuration comes from the arguments, then the environment
    (``TINKER_API_KEY``, ``TINKER_BASE_URL``, ``TINKER_PROJECT_ID``,
    ``TINKER_TAGS``, ``CLOUDFLARE_ACCESS_CLIENT_ID/SECRET``), then the
    manifest's defaults. The server session is created lazily on first use and
    heartbeated in the background; :meth:`close` (or leaving a ``with`` block)
    finishes it and stops every background thread. A script that forgets to
    close still exits promptly.

    Creation methods block and return the client, which is also its own
    resolved future (``.result()`` and ``await`` give the client, as scripts for
    SDK 0.38 expect). Each has a ``*_future`` twin that returns an
    :class:`~tinkex.APIFuture` of the client, so many clients can be created in
    parallel without managing threads, and an ``*_async`` twin for coroutines.

    ``wire_format`` chooses how ``forward``/``forward_backward`` requests and
    their results (and sample results) travel: ``"auto"`` (default) negotiates
    protobuf with the server (protobuf results preferred, protobuf bodies when
    the server's client config asks for them), ``"protobuf"`` always sends
    protobuf bodies, ``"json"`` never uses protobuf. See :mod:`tinkex.wire`.

    ``circuit_breaker=True`` turns on the manifest's circuit breakers (off by
    default): after repeated server failures on a pool, calls fail fast with
    :class:`~tinkex.CircuitOpenError` until a trial call succeeds. A 429 always
    slows every client of the same API key in the process (the shared rate limiter).

    ``transport`` replaces the HTTP transport (the engine's seam), e.g. with
    ``tinkex.core.asgi.ASGITransport(app)`` to talk to an application in this
    process (the emulator's, in tests); the client closes it.

    ``tracing=True`` (or ``TINKER_OTEL=1``) makes every call an OpenTelemetry client
    span and sends its W3C ``traceparent``; it needs the optional ``opentelemetry-api``
    package (and the application's OpenTelemetry SDK to export the spans).
    """

    _ctx: ClientContext

    def __init__(self, user_metadata: Mapping[str, str] | None = None,
                 project_id: str | None = None, *, display_name: str | None = None,
                 base_url: str | None = None, api_key: str | None = None,
                 default_headers_overrides: Mapping[str, str] | None = None,
                 default_headers: Mapping[str, str] | None = None,
                 timeout: float | tuple[float, float] | None = None,
                 max_retries: int | None = None, wire_format: WireFormat = "auto",
                 circuit_breaker: bool | None = None, tracing: bool | None = None,
                 transport: HTTPTransport | None = None, **kwargs: Any) -> None:
        if kwargs:  # as the official SDK does: scripts written for older versions keep running
            warnings.warn(f"ServiceClient ignores unsupported arguments: "
                          f"{', '.join(sorted(kwargs))}", FutureWarning, stacklevel=2)
        headers = {**(default_headers or {}), **(default_headers_overrides or {})}
        self._ctx = ClientContext(api_key=api_key, base_url=base_url, user_metadata=user_metadata,
                                  project_id=project_id, display_name=display_name,
                                  default_headers=headers or None, timeout=timeout,
                                  max_retries=max_retries, wire_format=wire_format,
                                  circuit_breaker=circuit_breaker, tracing=tracing,
                                  transport=transport)

    # ---- information --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._ctx.config.base_url

    @property
    def session_id(self) -> str:
        """The server session's id (creates the session if it does not exist yet)."""
        return self._ctx.session_id

    @property
    def api(self) -> TinkerAPI:
        """The low-level API on this client's connection and session.

        One keyword-only method per operation of the manifest
        (``api.rest.get_training_run(training_run_id=...)``), and the same
        methods under ``api.<group>.with_raw_response`` returning a
        :class:`~tinkex.core.raw.RawResponse` (status, headers, URL, elapsed time,
        attempts, ``parse()``).
        """
        api: TinkerAPI = self._ctx.api
        return api

    def metrics(self, *, reset: bool = False) -> MetricsSnapshot:
        """Per-operation counters and latency percentiles of every request this client family sent.

        Counted since the client was made (or the last reset): calls,
        successes, failures by status, retries, latency p50/p95/p99/mean/max.
        The training, sampling and REST clients made here share these metrics.
        ``reset=True`` returns them and starts again from zero.
        """
        metrics = self._ctx.engine.metrics
        if metrics is None:
            return MetricsSnapshot(MappingProxyType({}))
        return metrics.snapshot(reset=reset)

    def get_console_url(self) -> str:
        """This session's page in the console (the list of sessions before it exists)."""
        session = self._ctx.session
        session_id = session.session_id if session is not None and session.created else None
        return console.session_url(session_id, self._ctx.console_base_url())

    def get_server_capabilities(self) -> GetServerCapabilitiesResponse:
        """The base models the server offers."""
        result = self._ctx.api.service.get_server_capabilities()
        return result

    get_server_capabilities_async = awaiting(get_server_capabilities)

    def get_telemetry(self) -> TelemetryReporter | None:
        """The reporter that sends this client's telemetry events."""
        return self._ctx.telemetry

    # ---- training clients ---------------------------------------------------------------

    def create_lora_training_client(self, base_model: str, rank: int = 32,
                                    seed: int | None = None, train_mlp: bool = True,
                                    train_attn: bool = True, train_unembed: bool = True,
                                    user_metadata: Mapping[str, str] | None = None,
                                    optimizer: OptimizerConfig | None = None) -> TrainingClient:
        """Create a LoRA adapter on ``base_model`` and return a client that trains it.

        ``optimizer`` chooses the optimizer the model is trained with
        (``OptimizerConfig(type="adamw")`` by default, or ``type="dimuon"``).
        """
        if not (train_mlp or train_attn or train_unembed):
            raise InvalidArgumentError("at least one of train_mlp, train_attn, train_unembed must be True")
        ctx = self._ctx
        with checking_arguments("create_lora_training_client()"):
            lora = LoraConfig(rank=rank, seed=seed, train_mlp=train_mlp, train_attn=train_attn,
                              train_unembed=train_unembed)
        created = ctx.api.training.create_model(
            session_id=ctx.session_id, model_seq_id=ctx.next_number("model_seq_id"),
            base_model=base_model, lora_config=lora,
            user_metadata=dict(user_metadata) if user_metadata else NOT_GIVEN,
            optimizer_config=given(optimizer)).result()
        return TrainingClient(ctx, created.model_id)

    create_lora_training_client_future = backgrounded(create_lora_training_client)
    create_lora_training_client_async = awaiting(create_lora_training_client)

    def create_training_client_from_state(self, path: str, base_model: str | None = None,
                                          user_metadata: Mapping[str, str] | None = None,
                                          weights_access_token: str | None = None,
                                          optimizer: OptimizerConfig | None = None
                                          ) -> TrainingClient:
        """A new training client whose weights (not optimizer state) come from a checkpoint.

        The adapter's shape (rank, trained layers) is the checkpoint's;
        ``base_model`` overrides its base model (it must be compatible),
        ``weights_access_token`` opens another account's checkpoint, and
        ``optimizer`` chooses the new model's optimizer.
        """
        return self._from_state(path, base_model, user_metadata, weights_access_token,
                                optimizer, with_optimizer=False)

    def create_training_client_from_state_with_optimizer(
            self, path: str, base_model: str | None = None,
            user_metadata: Mapping[str, str] | None = None,
            weights_access_token: str | None = None) -> TrainingClient:
        """A new training client restored from a checkpoint, optimizer state included."""
        return self._from_state(path, base_model, user_metadata, weights_access_token, None,
                                with_optimizer=True)

    create_training_client_from_state_future = backgrounded(create_training_client_from_state)
    create_training_client_from_state_async = awaiting(create_training_client_from_state)
    create_training_client_from_state_with_optimizer_async = awaiting(
        create_training_client_from_state_with_optimizer)

    def _from_state(self, path: str, base_model: str | None,
                    user_metadata: Mapping[str, str] | None, weights_access_token: str | None,
                    optimizer: OptimizerConfig | None, *, with_optimizer: bool) -> TrainingClient:
        TinkerPath.parse(path)
        info = self._ctx.api.rest.get_weights_info(tinker_path=path)
        client = self.create_lora_training_client(
            base_model or info.base_model, rank=info.lora_rank or 32,
            train_mlp=info.train_mlp if info.train_mlp is not None else True,
            train_attn=info.train_attn if info.train_attn is not None else True,
            train_unembed=info.train_unembed if info.train_unembed is not None else True,
            user_metadata=user_metadata, optimizer=optimizer or info.optimizer_config)
        loader = client.load_state_with_optimizer if with_optimizer else client.load_state
        loader(path, weights_access_token=weights_access_token).result()
        return client

    # ---- sampling clients ---------------------------------------------------------------

    def create_sampling_client(self, model_path: str | None = None,
                               base_model: str | None = None,
                               retry_config: RetryConfig | None = None,
                               record_stability_info: bool = False) -> SamplingClient:
        """A client that samples from saved sampler weights (``model_path``) or a base model.

        ``record_stability_info`` asks the server to keep, per sampled sequence,
        what a ``stable_reinforce`` loss needs later (referenced by ``sequence_id``).
        """
        return SamplingClient.create(self._ctx, model_path=model_path, base_model=base_model,
                                     retry_config=retry_config,
                                     record_stability_info=record_stability_info)

    create_sampling_client_future = backgrounded(create_sampling_client)
    create_sampling_client_async = awaiting(create_sampling_client)

    # ---- weights and losses -------------------------------------------------------------

    def copy_weights(self, path: str, *, ttl_seconds: int | None = None,
                     weights_access_token: str | None = None) -> APIFuture[str]:
        """Copy a checkpoint into this client's project; the copy's ``tinker://`` path.

        See :meth:`RestClient.copy_weights`.
        """
        return self.create_rest_client().copy_weights(
            path, self._ctx.project_id, ttl_seconds=ttl_seconds,
            weights_access_token=weights_access_token)

    copy_weights_async = awaiting(copy_weights, offload=False)

    def create_custom_loss(self, fn: PerDatumLossFn, input_ranks: Mapping[str, int]
                           ) -> APIFuture[LossHandle]:
        """A per-datum custom loss for :meth:`TrainingClient.forward_backward_custom`.

        ``fn(logprobs, *inputs) -> (loss, metrics)`` takes the datum's target
        logprobs first, then one tensor per ``loss_fn_inputs`` key it reads;
        ``input_ranks`` gives each parameter's rank (0, 1 or 2), ``logprobs``
        included. The loss runs here, with torch (see :mod:`tinkex.loss_handle`).
        """
        return APIFuture.from_value(make_handle(fn, input_ranks, self._ctx.session_id))

    # ---- REST ---------------------------------------------------------------------------

    def create_rest_client(self) -> RestClient:
        """A client for training runs, checkpoints and sessions (shares this connection)."""
        return RestClient(_context=self._ctx)

    # ---- lifecycle ----------------------------------------------------------------------

    def close(self, status: FinishStatus = "success", detail: str | None = None
              ) -> APIFuture[None]:
        """Finish the session with ``status`` (and an optional ``detail``); stop every thread.

        Blocks until that is done and returns a resolved future, so that
        ``close("success").result()`` and ``await close("success")`` (SDK 0.38
        style) work as well as a plain ``close()``. A second close does nothing.
        """
        self._ctx.close(status, detail)
        return APIFuture.from_value(None)

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        status: FinishStatus
        if exc_type is None:
            status = "success"
        elif issubclass(exc_type, Exception):
            status = "errored"
            if exc is not None:
                self._ctx.log_exception(exc, "ServiceClient")
        else:
            status = "interrupted"
        self.close(status)

    def __repr__(self) -> str:
        state = "closed" if self._ctx.closed else "open"
        return f"<ServiceClient {self.base_url} {state}>"


__all__ = ["ServiceClient"]
