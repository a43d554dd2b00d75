"""Public names of the official SDK's types that are not wire types of their own here.

Aliases of unions and scalars (``ModelID``, ``ModelInputChunk``, ...), small
request/result models the official SDK exposes, and the provenance spans of a
:class:`Datum` (defined in ``_views``).
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Literal, TypeAlias

from pydantic import Field

from tinkex.paths import TinkerPath

from . import _generated as g
from ._base import WireModel
from ._views import PromptProvenanceSpan, SampledProvenanceSpan

ModelID: TypeAlias = str
RequestID: TypeAlias = str
TensorDtypeName: TypeAlias = Literal["int64", "float32"]
CheckpointTypeName: TypeAlias = Literal["training", "sampler", "external"]
SamplingClientKind: TypeAlias = Literal["snapshot", "inflight"]
CustomLossInputRank: TypeAlias = Literal[0, 1, 2]
ClientSessionFinishReasonType: TypeAlias = Literal["success", "errored", "interrupted"]

ModelInputChunk: TypeAlias = Annotated[
    g.EncodedTextChunk | g.ImageAssetPointerChunk | g.ImageChunk | g.DmelChunk,
    Field(discriminator="type")]
LossFnInputs: TypeAlias = dict[str, g.TensorData]
LossFnOutput: TypeAlias = dict[str, g.TensorData]
OptimParams: TypeAlias = g.AdamParams | g.DimuonParams
SearchOwner: TypeAlias = g.OwnSearchOwner | g.AccessibleSearchOwner | g.UserSearchOwner
SessionStatus: TypeAlias = g.SessionActive | g.SessionCancelled | g.SessionFailed | g.ClientSessionFinished
SessionStatusQuery: TypeAlias = g.ActiveSessionStatusQuery | g.CancelledSessionStatusQuery | g.FailedSessionStatusQuery | g.ClientFinishedSessionStatusQuery
SessionFailedReason: TypeAlias = g.SessionFailedRequestReason | g.SessionFailedTrainingRunReason | g.SessionFailedSamplingSessionReason
FutureCompletion: TypeAlias = g.FutureFinished | g.FutureFailed
BillingEventInfo: TypeAlias = g.TrainingBillingEvent | g.SamplingPrefillBillingEvent | g.SamplingSampleBillingEvent | g.CheckpointBillingEvent | g.StorageBillingEvent
TelemetryBatch = g.TelemetrySendRequest
TelemetryEvent: TypeAlias = g.SessionStartEvent | g.SessionEndEvent | g.UnhandledExceptionEvent \
    | g.GenericEvent


class AdamOptimizerConfig(g.OptimizerConfig):
    """AdamW, the default optimizer of a new model."""

    type: Literal["adamw"] = "adamw"


class DimuonOptimizerConfig(g.OptimizerConfig):
    """The Dimuon optimizer (train the model with :class:`DimuonParams` steps)."""

    type: Literal["dimuon"] = "dimuon"
    version: int | None = 1


class ClientSessionFinishSuccess(WireModel):
    type: Literal["success"] = "success"


class ClientSessionFinishErrored(WireModel):
    type: Literal["errored"] = "errored"


class ClientSessionFinishInterrupted(WireModel):
    type: Literal["interrupted"] = "interrupted"


ClientSessionFinishReason: TypeAlias = Annotated[
    ClientSessionFinishSuccess | ClientSessionFinishErrored | ClientSessionFinishInterrupted,
    Field(discriminator="type")]


class GetBillingUsageRequest(WireModel):
    """The window of :meth:`AdminClient.get_billing_usage` (UTC hour boundaries)."""

    starting_on: _dt.datetime
    ending_before: _dt.datetime


class GetCurrentCheckpointStorageUsageRequest(WireModel):
    """The filter of :meth:`AdminClient.get_current_checkpoint_storage_usage`."""

    project_id: str | None = None


class SaveWeightsExternalResponse(WireModel):
    """Result of :meth:`TrainingClient.save_weights_external`: where the export is."""

    path: str
    size_bytes: int | None = None
    type: Literal["save_weights_external"] = "save_weights_external"


class ParsedCheckpointTinkerPath(WireModel):
    """The parts of a ``tinker://<run>/<kind>/<name>`` checkpoint path."""

    tinker_path: str
    training_run_id: str
    checkpoint_type: CheckpointTypeName
    checkpoint_id: str

    @classmethod
    def from_tinker_path(cls, tinker_path: str) -> ParsedCheckpointTinkerPath:
        """Parse ``tinker_path`` (a ``ValueError`` says what is wrong with it)."""
        path = TinkerPath.parse(tinker_path)
        return cls(tinker_path=tinker_path, training_run_id=path.training_run_id,
                   checkpoint_type=path.checkpoint_type,  # type: ignore[arg-type]
                   checkpoint_id=path.checkpoint_id)


ProvenanceSpans: TypeAlias = list[PromptProvenanceSpan | SampledProvenanceSpan]

__all__ = [
    "AdamOptimizerConfig", "BillingEventInfo", "ClientSessionFinishErrored",
    "ClientSessionFinishInterrupted", "ClientSessionFinishReason", "ClientSessionFinishReasonType",
    "ClientSessionFinishSuccess", "CustomLossInputRank", "DimuonOptimizerConfig",
    "FutureCompletion", "GetBillingUsageRequest", "GetCurrentCheckpointStorageUsageRequest",
    "LossFnInputs", "LossFnOutput", "ModelID", "ModelInputChunk", "OptimParams",
    "ParsedCheckpointTinkerPath", "PromptProvenanceSpan", "ProvenanceSpans", "RequestID",
    "SampledProvenanceSpan", "SamplingClientKind", "SaveWeightsExternalResponse", "SearchOwner",
    "SessionFailedReason", "SessionStatus", "SessionStatusQuery", "TelemetryBatch",
    "TelemetryEvent",
]
