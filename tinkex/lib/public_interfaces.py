"""The public client classes under the official SDK's ``tinker.lib.public_interfaces`` path."""

from tinkex.admin_client import AdminClient
from tinkex.core.apifuture import APIFuture
from tinkex.loss_handle import LossHandle, PerDatumLossFn
from tinkex.rest_client import RestClient
from tinkex.sampling_client import SamplingClient
from tinkex.service_client import ServiceClient
from tinkex.training_client import TrainingClient

AwaitableConcurrentFuture = APIFuture
"""SDK 0.38's awaitable wrapper of a ``concurrent.futures.Future``; an APIFuture is both."""
BackcompatTrainingClientFuture = TrainingClient
"""What SDK 0.38's training-client creators return; here the client is its own future."""
BackcompatSamplingClientFuture = SamplingClient
"""What SDK 0.38's sampling-client creators return; here the client is its own future."""

__all__ = ["APIFuture", "AdminClient", "AwaitableConcurrentFuture",
           "BackcompatSamplingClientFuture", "BackcompatTrainingClientFuture", "LossHandle",
           "PerDatumLossFn", "RestClient", "SamplingClient", "ServiceClient", "TrainingClient"]
