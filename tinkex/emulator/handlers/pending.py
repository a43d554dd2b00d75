"""Operations the emulator accepts but does not serve yet: 501 with a clear message."""

from __future__ import annotations

from ..errors import ApiError
from ..services import Services
from . import Call, handles

_PENDING = ("auth_token", "get_self_api_key", "delete_self_api_key", "create_custom_loss",
            "join_sampling_session", "retrieve_futures", "get_external_weights_urls",
            "copy_weights", "assign_session_project", "export_session_trace", "search_sessions",
            "get_audit_log", "get_billing_usage", "get_current_checkpoint_storage_usage")


def _not_implemented(s: Services, call: Call) -> None:
    raise ApiError(501, f"{call.request.method} {call.request.url.path} is not served by this "
                        "emulator yet")


for _operation in _PENDING:
    handles(_operation)(_not_implemented)
