"""Operations the emulator accepts but does not serve yet: 501 with a clear message."""

from __future__ import annotations

from ..errors import ApiError
from ..services import Services
from . import Call, handles

_PENDING = ("create_custom_loss",


)


def _not_implemented(s: Services, call: Call) -> None:
    raise ApiError(501, f"{call.request.method} {call.request.url.path} is not served by this "
                        "emulator yet")


for _operation in _PENDING:
    handles(_operation)(_not_implemented)
