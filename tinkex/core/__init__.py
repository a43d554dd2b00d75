"""The generic blocking engine, configured entirely by a compiled API document.

Nothing here knows a particular API: operations, pools, retry policies, error
classes, auth and SDK names all come from the document's ``x-tinkex-*`` keys.
Logging goes to the ``tinkex`` logger hierarchy, silent until the application
configures logging.
"""

import logging

from .api import api_classes, build_api
from .config import ClientConfig
from .connection import Connection
from .engine import Engine, Response
from .errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BillingError,
    CircuitOpenError,
    ClientClosedError,
    ConfigError,
    ConflictError,
    DocumentError,
    ErrorCategory,
    FutureExpiredError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestFailedError,
    SDKError,
    UnprocessableEntityError,
)
from .model.operations import Operation, OperationTable
from .options import DEFAULT_OPTIONS, NOT_GIVEN, NotGiven, Omit, RequestOptions, omit
from .retry import RetryPolicy
from .transport import Timeout

logging.getLogger("tinkex").addHandler(logging.NullHandler())

__all__ = [
    "APIConnectionError", "APIError", "APIResponseValidationError", "APIStatusError",
    "APITimeoutError", "AuthenticationError", "BadRequestError", "BillingError",
    "CircuitOpenError", "ClientClosedError", "ClientConfig", "ConfigError", "Connection",
    "ConflictError", "DEFAULT_OPTIONS", "DocumentError", "Engine", "ErrorCategory",
    "FutureExpiredError", "InternalServerError", "NOT_GIVEN", "NotFoundError", "NotGiven", "Omit",
    "Operation", "OperationTable", "PermissionDeniedError", "RateLimitError",
    "RequestFailedError", "RequestOptions", "Response", "RetryPolicy", "SDKError", "Timeout",
    "UnprocessableEntityError", "api_classes", "build_api", "omit",
]
