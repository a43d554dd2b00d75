"""``AdminClient``: organization-level REST calls (audit log, billing and storage usage).

They need an admin role in the organization. Like :class:`~tinkex.RestClient`,
every method returns an :class:`~tinkex.APIFuture` and has an ``*_async`` twin;
no session is created.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Literal

from tinkex._context import ClientContext
from tinkex._sessionless import SessionlessClient
from tinkex._twins import awaiting
from tinkex.core.futures import APIFuture
from tinkex.types import (
    AuditEventType,
    AuditLogResponse,
    BillingUsageResponse,
    CurrentCheckpointStorageUsageResponse,
)

if TYPE_CHECKING:
    pass

AuditEvents = Literal["all", "checkpoints", "projects", "teams", "organizations"]


def rfc3339(moment: _dt.datetime | str, name: str) -> str:
    """A window bound as the API wants it; a naive datetime is taken as UTC."""
    if isinstance(moment, str):
        return moment
    if not isinstance(moment, _dt.datetime):
        raise TypeError(f"{name} must be a datetime or an RFC 3339 string, "
                        f"not {type(moment).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


class AdminClient(SessionlessClient):
    """Audit log, billing usage and checkpoint storage usage of your organization.

    ``AdminClient(base_url=..., api_key=...)`` (environment and defaults as
    for :class:`~tinkex.ServiceClient`); close it, or use it as a context manager.
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 _context: ClientContext | None = None) -> None:
        super().__init__(base_url, api_key, _context=_context)
        self._admin = self._ctx.api.admin

    def get_audit_log(self, event_type: AuditEvents = "all", day: _dt.date | None = None
                      ) -> APIFuture[AuditLogResponse]:
        """Audit events (checkpoints, projects, ...) of the organization; ``day`` limits to one UTC day."""
        return self._run(self._admin.get_audit_log, event_type=AuditEventType(event_type),
                         day=day.isoformat() if day is not None else None)

    def get_billing_usage(self, starting_on: _dt.datetime | str,
                          ending_before: _dt.datetime | str) -> APIFuture[BillingUsageResponse]:
        """Hourly usage events from ``starting_on`` up to ``ending_before`` (UTC hours, ≤ 14 days)."""
        return self._run(self._admin.get_billing_usage,
                         starting_on=rfc3339(starting_on, "starting_on"),
                         ending_before=rfc3339(ending_before, "ending_before"))

    def get_current_checkpoint_storage_usage(self, project_id: str | None = None
                                             ) -> APIFuture[CurrentCheckpointStorageUsageResponse]:
        """Live checkpoints' count, size and projected cost (of one project, if given)."""
        return self._run(self._admin.get_current_checkpoint_storage_usage,
                         project_id=project_id)

    get_audit_log_async = awaiting(get_audit_log, offload=False)
    get_billing_usage_async = awaiting(get_billing_usage, offload=False)
    get_current_checkpoint_storage_usage_async = awaiting(get_current_checkpoint_storage_usage,
                                                          offload=False)


__all__ = ["AdminClient"]
