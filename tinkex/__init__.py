"""tinkex: a sync-first Python SDK for the Tinker fine-tuning API.

``import tinkex as tinker`` runs scripts written for the official SDK 0.38, the
synchronous ones and the asynchronous ones (``*_async`` twins, awaitable
futures); importing tinkex does not import asyncio::

    import tinkex as tinker
    from tinkex import types

    service = tinker.ServiceClient()
    training = service.create_lora_training_client(base_model="tinkex/tiny-lm", rank=8)
"""

from collections.abc import Mapping
from typing import TypedDict

from tinkex import auth, checkpoints, lib, types
from tinkex._version import __version__
from tinkex.admin_client import AdminClient
from tinkex.core.errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BillingError,
    CircuitOpenError,
    ConfigError,
    ConflictError,
    FutureExpiredError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestErrorCategory,
    RequestFailedError,
    UnprocessableEntityError,
)
from tinkex.core.errors import SDKError as TinkerError
from tinkex.core.futures import APIFuture
from tinkex.core.transport import Timeout
from tinkex.lib.public_interfaces import (
    BackcompatSamplingClientFuture,
    BackcompatTrainingClientFuture,
)
from tinkex.loss_handle import LossHandle, PerDatumLossFn
from tinkex.rest_client import RestClient
from tinkex.sampling_client import RetryConfig, SamplingClient
from tinkex.service_client import ServiceClient
from tinkex.training_client import TrainingClient
from tinkex.types import (
    AdamOptimizerConfig,
    AdamParams,
    Checkpoint,
    CheckpointType,
    Datum,
    DimuonOptimizerConfig,
    DimuonParams,
    DmelChunk,
    EncodedTextChunk,
    ForwardBackwardOutput,
    ImageAssetPointerChunk,
    ImageChunk,
    LoraConfig,
    ModelID,
    ModelInput,
    ModelInputChunk,
    OptimParams,
    OptimStepRequest,
    OptimStepResponse,
    ParsedCheckpointTinkerPath,
    PromptProvenanceSpan,
    SampledProvenanceSpan,
    SampledSequence,
    SampleRequest,
    SampleResponse,
    SamplingParams,
    StopReason,
    TensorData,
    TensorDtype,
    TrainingRun,
)


class ExperimentalWarning(FutureWarning):
    """Warned by APIs that may change or go away in any release (as in the official SDK)."""


class RequestOptions(TypedDict, total=False):
    """Per-call options of the low-level API (``tinkex._api``), as keyword arguments."""

    timeout: float | tuple[float, float] | None
    max_retries: int | None
    idempotency_key: str | None
    extra_headers: Mapping[str, str] | None
    extra_query: Mapping[str, object] | None
    extra_body: Mapping[str, object] | None

__all__ = [
    "AdamOptimizerConfig", "AdminClient", "BackcompatSamplingClientFuture",
    "BackcompatTrainingClientFuture", "CheckpointType", "DimuonOptimizerConfig", "DimuonParams",
    "DmelChunk", "ExperimentalWarning", "LossHandle", "ModelID", "ModelInputChunk",
    "OptimParams", "OptimStepRequest", "OptimStepResponse", "ParsedCheckpointTinkerPath",
    "PerDatumLossFn", "PromptProvenanceSpan", "RequestOptions", "SampleRequest",
    "SampledProvenanceSpan", "StopReason", "TensorDtype", "Timeout", "auth", "lib",
    "APIConnectionError", "APIError", "APIFuture", "APIResponseValidationError",
    "APIStatusError", "APITimeoutError", "AdamParams", "AuthenticationError", "BadRequestError",
    "BillingError", "Checkpoint", "CircuitOpenError", "ConfigError", "ConflictError", "Datum", "EncodedTextChunk",
    "ForwardBackwardOutput", "FutureExpiredError", "ImageAssetPointerChunk", "ImageChunk",
    "InternalServerError", "LoraConfig", "ModelInput", "NotFoundError", "PermissionDeniedError",
    "RateLimitError", "RequestErrorCategory", "RequestFailedError", "RestClient", "RetryConfig",
    "SampleResponse", "SampledSequence", "SamplingClient", "SamplingParams", "ServiceClient",
    "TensorData", "TinkerError", "TrainingClient", "TrainingRun", "UnprocessableEntityError",
    "__version__", "checkpoints", "types",
]
