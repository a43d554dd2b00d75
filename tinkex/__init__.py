"""tinkex: a sync-first Python SDK for the Tinker fine-tuning API.

``import tinkex as tinker`` runs scripts written for the official SDK's
synchronous calls::

    import tinkex as tinker
    from tinkex import types

    service = tinker.ServiceClient()
    training = service.create_lora_training_client(base_model="tinkex/tiny-lm", rank=8)
"""

from tinkex import checkpoints, types
from tinkex._version import __version__
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
from tinkex.rest_client import RestClient
from tinkex.sampling_client import RetryConfig, SamplingClient
from tinkex.service_client import ServiceClient
from tinkex.training_client import TrainingClient
from tinkex.types import (
    AdamParams,
    Checkpoint,
    Datum,
    EncodedTextChunk,
    ForwardBackwardOutput,
    ImageAssetPointerChunk,
    ImageChunk,
    LoraConfig,
    ModelInput,
    SampledSequence,
    SampleResponse,
    SamplingParams,
    TensorData,
    TrainingRun,
)

__all__ = [
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
