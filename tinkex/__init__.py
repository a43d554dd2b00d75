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
from typing import TYPE_CHECKING, Any, TypedDict

from tinkex._version import __version__

# The public names load with their first use (PEP 562): ``import tinkex`` itself
# imports no client, type or HTTP machinery, so scripts and tools that import it
# without calling it (CLIs, test collection, worker processes) do not pay for it.
_LAZY: dict[str, tuple[str, str | None]] = {
    "auth": ("tinkex.auth", None),
    "checkpoints": ("tinkex.checkpoints", None),
    "lib": ("tinkex.lib", None),
    "types": ("tinkex.types", None),
    "AdminClient": ("tinkex.admin_client", "AdminClient"),
    "APIConnectionError": ("tinkex.core.errors", "APIConnectionError"),
    "APIError": ("tinkex.core.errors", "APIError"),
    "APIResponseValidationError": ("tinkex.core.errors", "APIResponseValidationError"),
    "APIStatusError": ("tinkex.core.errors", "APIStatusError"),
    "APITimeoutError": ("tinkex.core.errors", "APITimeoutError"),
    "AuthenticationError": ("tinkex.core.errors", "AuthenticationError"),
    "BadRequestError": ("tinkex.core.errors", "BadRequestError"),
    "BillingError": ("tinkex.core.errors", "BillingError"),
    "CircuitOpenError": ("tinkex.core.errors", "CircuitOpenError"),
    "ConfigError": ("tinkex.core.errors", "ConfigError"),
    "ConflictError": ("tinkex.core.errors", "ConflictError"),
    "FutureExpiredError": ("tinkex.core.errors", "FutureExpiredError"),
    "InternalServerError": ("tinkex.core.errors", "InternalServerError"),
    "InvalidArgumentError": ("tinkex.core.errors", "InvalidArgumentError"),
    "NotFoundError": ("tinkex.core.errors", "NotFoundError"),
    "PermissionDeniedError": ("tinkex.core.errors", "PermissionDeniedError"),
    "RateLimitError": ("tinkex.core.errors", "RateLimitError"),
    "RequestErrorCategory": ("tinkex.types", "RequestErrorCategory"),
    "RequestFailedError": ("tinkex.core.errors", "RequestFailedError"),
    "UnprocessableEntityError": ("tinkex.core.errors", "UnprocessableEntityError"),
    "TinkerError": ("tinkex.core.errors", "SDKError"),
    "APIFuture": ("tinkex.core.futures", "APIFuture"),
    "NOT_GIVEN": ("tinkex.core.options", "NOT_GIVEN"),
    "NotGiven": ("tinkex.core.options", "NotGiven"),
    "Omit": ("tinkex.core.options", "Omit"),
    "omit": ("tinkex.core.options", "omit"),
    "Timeout": ("tinkex.core.transport", "Timeout"),
    "BackcompatSamplingClientFuture": ("tinkex.lib.public_interfaces", "BackcompatSamplingClientFuture"),
    "BackcompatTrainingClientFuture": ("tinkex.lib.public_interfaces", "BackcompatTrainingClientFuture"),
    "LossHandle": ("tinkex.loss_handle", "LossHandle"),
    "PerDatumLossFn": ("tinkex.loss_handle", "PerDatumLossFn"),
    "RestClient": ("tinkex.rest_client", "RestClient"),
    "RetryConfig": ("tinkex.sampling_client", "RetryConfig"),
    "SamplingClient": ("tinkex.sampling_client", "SamplingClient"),
    "ServiceClient": ("tinkex.service_client", "ServiceClient"),
    "TrainingClient": ("tinkex.training_client", "TrainingClient"),
    "AdamOptimizerConfig": ("tinkex.types", "AdamOptimizerConfig"),
    "AdamParams": ("tinkex.types", "AdamParams"),
    "Checkpoint": ("tinkex.types", "Checkpoint"),
    "CheckpointType": ("tinkex.types", "CheckpointType"),
    "Datum": ("tinkex.types", "Datum"),
    "DimuonOptimizerConfig": ("tinkex.types", "DimuonOptimizerConfig"),
    "DimuonParams": ("tinkex.types", "DimuonParams"),
    "DmelChunk": ("tinkex.types", "DmelChunk"),
    "EncodedTextChunk": ("tinkex.types", "EncodedTextChunk"),
    "ForwardBackwardOutput": ("tinkex.types", "ForwardBackwardOutput"),
    "ImageAssetPointerChunk": ("tinkex.types", "ImageAssetPointerChunk"),
    "ImageChunk": ("tinkex.types", "ImageChunk"),
    "LoraConfig": ("tinkex.types", "LoraConfig"),
    "ModelID": ("tinkex.types", "ModelID"),
    "ModelInput": ("tinkex.types", "ModelInput"),
    "ModelInputChunk": ("tinkex.types", "ModelInputChunk"),
    "OptimParams": ("tinkex.types", "OptimParams"),
    "OptimStepRequest": ("tinkex.types", "OptimStepRequest"),
    "OptimStepResponse": ("tinkex.types", "OptimStepResponse"),
    "ParsedCheckpointTinkerPath": ("tinkex.types", "ParsedCheckpointTinkerPath"),
    "PromptProvenanceSpan": ("tinkex.types", "PromptProvenanceSpan"),
    "SampledProvenanceSpan": ("tinkex.types", "SampledProvenanceSpan"),
    "SampledSequence": ("tinkex.types", "SampledSequence"),
    "SampleRequest": ("tinkex.types", "SampleRequest"),
    "SampleResponse": ("tinkex.types", "SampleResponse"),
    "SamplingParams": ("tinkex.types", "SamplingParams"),
    "StopReason": ("tinkex.types", "StopReason"),
    "TensorData": ("tinkex.types", "TensorData"),
    "TensorDtype": ("tinkex.types", "TensorDtype"),
    "TrainingRun": ("tinkex.types", "TrainingRun"),
}
"""Public name -> (module, attribute); attribute None: the name is that submodule."""

if TYPE_CHECKING:
    from tinkex import auth, checkpoints, lib, types
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
        InvalidArgumentError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        RequestFailedError,
        UnprocessableEntityError,
    )
    from tinkex.core.errors import SDKError as TinkerError
    from tinkex.core.futures import APIFuture
    from tinkex.core.options import NOT_GIVEN, NotGiven, Omit, omit
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




def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'tinkex' has no attribute {name!r}") from None
    import importlib

    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class ExperimentalWarning(FutureWarning):
    """Warned by APIs that may change or go away in any release (as in the official SDK)."""


class RequestOptions(TypedDict, total=False):
    """Per-call options of the low-level API (``tinkex._api``), as keyword arguments.

    The engine receives them as one frozen :class:`tinkex.core.options.RequestOptions`
    (``RequestOptions.of(**these)``).
    """

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
    "InternalServerError", "InvalidArgumentError", "LoraConfig", "ModelInput", "NotFoundError", "PermissionDeniedError",
    "RateLimitError", "RequestErrorCategory", "RequestFailedError", "RestClient", "RetryConfig",
    "SampleResponse", "SampledSequence", "SamplingClient", "SamplingParams", "ServiceClient",
    "TensorData", "TinkerError", "TrainingClient", "TrainingRun", "UnprocessableEntityError",
    "NOT_GIVEN", "NotGiven", "Omit", "omit", "__version__", "checkpoints", "types",
]
