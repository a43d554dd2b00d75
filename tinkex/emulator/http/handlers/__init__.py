"""Handlers, one per ``operationId`` (see :mod:`.registry`); importing this registers them all."""

from . import (  # noqa: F401
    admin,
    auth,
    custom_loss,
    futures,
    rest,
    sampling,
    service,
    sessions,
    training,
    weights,
)
from .registry import (
    HANDLERS,
    RAW_CHECKS,
    Call,
    Handler,
    check_registry,
    checks_raw,
    handles,
    unserved,
)

__all__ = ["HANDLERS", "RAW_CHECKS", "Call", "Handler", "check_registry", "checks_raw",
           "handles", "unserved"]
