"""``ServiceClient``: the entry point that creates training, sampling and REST clients."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from tinkex import console
from tinkex._context import ClientContext
from tinkex.core.futures import APIFuture
from tinkex.core.metrics import MetricsSnapshot
from tinkex.types import GetServerCapabilitiesResponse, LoraConfig
from tinkex.wire import WireFormat

if TYPE_CHECKING:
    from tinkex._api import TinkerAPI
    from tinkex.rest_client import RestClient
    from tinkex.sampling_client import RetryConfig, SamplingClient
    from tinkex.training_client import TrainingClient


class ServiceClient:
    """A connection to the Tinker API (or a local emulator) for one session.

    Configuration comes from the arguments, then the environment
    (``TINKER_API_KEY``, ``TINKER_BASE_URL``, ``TINKER_PROJECT_ID``,
    ``TINKER_TAGS``, ``CLOUDFLARE_ACCESS_CLIENT_ID/SECRET``), then the
    manifest's defaults. The server session is created lazily on first use and
    heartbeated in the background; :meth:`close` (or leaving a ``with`` block)
    finishes it and stops every background thread. A script that forgets to
    close still exits promptly.

    Creation methods block and return the client; each has a ``*_future`` twin
    that returns an :class:`~tinkex.APIFuture` of the client instead, so many
    clients can be created in parallel without managing threads.

    ``wire_format`` chooses how ``forward``/``forward_backward`` requests and
    their results (and sample results) travel: ``"auto"`` (default) negotiates
    protobuf with the server (protobuf results preferred, protobuf bodies when
    the server's client config asks for them), ``"protobuf"`` always sends
    protobuf bodies, ``"json"`` never uses protobuf. See :mod:`tinkex.wire`.

    ``circuit_breaker=True`` turns on the manifest's circuit breakers (off by
    default): after repeated server failures on a pool, calls fail fast with
    :class:`~tinkex.CircuitOpenError` until a trial call succeeds. A 429 always
    slows every client of the same API key in the process (the shared rate limiter).

    ``tracing=True`` (or ``TINKER_OTEL=1``) makes every call an OpenTelemetry client
    span and sends its W3C ``traceparent``; it needs the optional ``opentelemetry-api``
    package (and the application's OpenTelemetry SDK to export the spans).
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None,
                 user_metadata: Mapping[str, str] | None = None, project_id: str | None = None,
                 *, display_name: str | None = None,
                 default_headers: Mapping[str, str] | None = None,
                 timeout: float | tuple[float, float] | None = None,
                 max_retries: int | None = None, wire_format: WireFormat = "auto",
                 circuit_breaker: bool | None = None, tracing: bool | None = None,
                 **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"ServiceClient() got unexpected keyword arguments: "
                            f"{', '.join(sorted(kwargs))}")
        self._ctx = ClientContext(api_key=api_key, base_url=base_url, user_metadata=user_metadata,
                                  project_id=project_id, display_name=display_name,
                                  default_headers=default_headers, timeout=timeout,
                                  max_retries=max_retries, wire_format=wire_format,
                                  circuit_breaker=circuit_breaker, tracing=tracing)

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
        result: GetServerCapabilitiesResponse = self._ctx.api.service.get_server_capabilities()
        return result

    # ---- training clients ---------------------------------------------------------------

    def create_lora_training_client(self, base_model: str, rank: int = 32,
                                    seed: int | None = None, train_mlp: bool = True,
                                    train_attn: bool = True, train_unembed: bool = True,
                                    user_metadata: Mapping[str, str] | None = None
                                    ) -> TrainingClient:
        """Create a LoRA adapter on ``base_model`` and return a client that trains it."""
        from tinkex.training_client import TrainingClient

        if not (train_mlp or train_attn or train_unembed):
            raise ValueError("at least one of train_mlp, train_attn, train_unembed must be True")
        ctx = self._ctx
        lora = LoraConfig(rank=rank, seed=seed, train_mlp=train_mlp, train_attn=train_attn,
                          train_unembed=train_unembed)
        created = ctx.api.training.create_model(
            session_id=ctx.session_id, model_seq_id=ctx.next_number("model_seq_id"),
            base_model=base_model, lora_config=lora,
            user_metadata=dict(user_metadata) if user_metadata else None).result()
        return TrainingClient(ctx, created.model_id)

    def create_lora_training_client_future(self, base_model: str, rank: int = 32,
                                           seed: int | None = None, train_mlp: bool = True,
                                           train_attn: bool = True, train_unembed: bool = True,
                                           user_metadata: Mapping[str, str] | None = None
                                           ) -> APIFuture[TrainingClient]:
        """Non-blocking twin of :meth:`create_lora_training_client`."""
        return self._ctx.in_background(self.create_lora_training_client, base_model, rank, seed,
                                       train_mlp, train_attn, train_unembed, user_metadata)

    def create_training_client_from_state(self, path: str,
                                          user_metadata: Mapping[str, str] | None = None
                                          ) -> TrainingClient:
        """A new training client whose weights (not optimizer state) come from a checkpoint."""
        return self._from_state(path, optimizer=False, user_metadata=user_metadata)

    def create_training_client_from_state_with_optimizer(
            self, path: str, user_metadata: Mapping[str, str] | None = None) -> TrainingClient:
        """A new training client restored from a checkpoint, optimizer state included."""
        return self._from_state(path, optimizer=True, user_metadata=user_metadata)

    def create_training_client_from_state_future(self, path: str) -> APIFuture[TrainingClient]:
        """Non-blocking twin of :meth:`create_training_client_from_state`."""
        return self._ctx.in_background(self.create_training_client_from_state, path)

    def _from_state(self, path: str, *, optimizer: bool,
                    user_metadata: Mapping[str, str] | None) -> TrainingClient:
        from tinkex.paths import TinkerPath
        from tinkex.training_client import TrainingClient

        TinkerPath.parse(path)
        info = self._ctx.api.rest.get_weights_info(tinker_path=path)
        client = self.create_lora_training_client(
            info.base_model, rank=info.lora_rank or 32,
            train_mlp=info.train_mlp if info.train_mlp is not None else True,
            train_attn=info.train_attn if info.train_attn is not None else True,
            train_unembed=info.train_unembed if info.train_unembed is not None else True,
            user_metadata=user_metadata)
        loader = client.load_state_with_optimizer if optimizer else client.load_state
        loader(path).result()
        assert isinstance(client, TrainingClient)
        return client

    # ---- sampling clients ---------------------------------------------------------------

    def create_sampling_client(self, model_path: str | None = None,
                               base_model: str | None = None,
                               retry_config: RetryConfig | None = None) -> SamplingClient:
        """A client that samples from saved sampler weights (``model_path``) or a base model."""
        from tinkex.sampling_client import SamplingClient

        if (model_path is None) == (base_model is None):
            raise ValueError("pass exactly one of model_path or base_model")
        if model_path is not None:
            from tinkex.paths import TinkerPath

            TinkerPath.parse(model_path)
        ctx = self._ctx
        created = ctx.api.sampling.create_sampling_session(
            session_id=ctx.session_id,
            sampling_session_seq_id=ctx.next_number("sampling_session_seq_id"),
            base_model=base_model, model_path=model_path)
        return SamplingClient(ctx, created.sampling_session_id, base_model=base_model,
                              retry_config=retry_config)

    def create_sampling_client_future(self, model_path: str | None = None,
                                      base_model: str | None = None,
                                      retry_config: RetryConfig | None = None
                                      ) -> APIFuture[SamplingClient]:
        """Non-blocking twin of :meth:`create_sampling_client`."""
        return self._ctx.in_background(self.create_sampling_client, model_path, base_model,
                                       retry_config)

    # ---- REST ---------------------------------------------------------------------------

    def create_rest_client(self) -> RestClient:
        """A client for training runs, checkpoints and sessions (shares this connection)."""
        from tinkex.rest_client import RestClient

        return RestClient(_context=self._ctx)

    # ---- lifecycle ----------------------------------------------------------------------

    def close(self, status: str = "success") -> None:
        """Finish the session with ``status`` (success/errored/interrupted) and stop all threads."""
        self._ctx.close(status)

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
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
