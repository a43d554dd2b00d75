"""Organization administration: the audit log, billing usage, current checkpoint storage.

Every account is an organization of its own, administered by its one user, so
each sees its own log and usage. All three views are computed from what the
emulator recorded while serving requests (see :mod:`tinkex.emulator.state.ledger`), not made up.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from typing import Any

from tinkex import types as T
from tinkex.emulator.errors import HTTPProblem
from tinkex.emulator.state.billing import GB, usage_events

from ..services import Services
from .registry import Call, handles
from .sessions import default_project, session_project

_EVENT_PREFIXES = {"checkpoints": "checkpoint_", "projects": "project_", "teams": "team_",
                   "organizations": "organization_"}
MAX_WINDOW = timedelta(days=14)


@handles("get_audit_log")
def get_audit_log(s: Services, call: Call) -> T.AuditLogResponse:
    event_type = str(getattr(call.params["event_type"], "value", call.params["event_type"]))
    start = stop = None
    if call.params.get("day"):
        try:
            day = date.fromisoformat(call.params["day"])
        except ValueError:
            raise HTTPProblem(422, [{"loc": ["query", "day"], "msg": "must be a date, YYYY-MM-DD",
                                     "type": "date_parsing"}]) from None
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()
        stop = start + 86400
    prefix = _EVENT_PREFIXES.get(event_type)
    entries = [T.AuditLogEntry(timestamp=datetime.fromtimestamp(row.at, tz=timezone.utc),
                               event=row.event, event_details=row.details,
                               model_id=row.model_id, tinker_path=row.tinker_path,
                               purpose=row.purpose)
               for row in s.ledger.audit_log(call.owner, start, stop)
               if prefix is None or row.event.startswith(prefix)]
    return T.AuditLogResponse(entries=entries)


def _instant(call: Call, name: str) -> datetime:
    raw = call.params[name]
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise HTTPProblem(422, [{"loc": ["query", name], "msg": "must be an RFC 3339 date-time",
                                 "type": "datetime_parsing"}]) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    if value.minute or value.second or value.microsecond:
        raise HTTPProblem(400, f"{name} must be on a UTC hour boundary, got {raw}")
    return value


@handles("get_billing_usage")
def get_billing_usage(s: Services, call: Call) -> T.BillingUsageResponse:
    start, stop = _instant(call, "starting_on"), _instant(call, "ending_before")
    if start.timestamp() > time.time():
        raise HTTPProblem(400, "starting_on must not be in the future")
    if stop <= start:
        raise HTTPProblem(400, "ending_before must be after starting_on")
    if stop - start > MAX_WINDOW:
        raise HTTPProblem(400, "the window may span at most 14 days")

    def describe(session_id: str | None) -> tuple[str | None, str | None, Any]:
        session = s.store.session(session_id) if session_id else None
        if session is None:
            return None, None, None
        metadata = {str(k): str(v) for k, v in (session.user_metadata or {}).items()}
        return session.owner, session_project(session), metadata or None

    return usage_events(s.ledger, call.owner, start.timestamp(), stop.timestamp(),
                        s.config.prices, describe, call.who.user_urn, call.who.name)


@handles("get_current_checkpoint_storage_usage")
def get_current_checkpoint_storage_usage(
        s: Services, call: Call) -> T.CurrentCheckpointStorageUsageResponse:
    s.purge_expired()
    wanted = call.params.get("project_id")
    groups: dict[str, dict[str, Any]] = defaultdict(lambda: {"count": 0, "keys": {}})
    checkpoints, _ = s.store.checkpoints(None, call.owner)
    for c in checkpoints:
        run = s.store.run(c.run_id)
        session = s.store.session(run.session_id) if run else None
        project = session_project(session) if session else default_project(call.owner)
        if wanted and project != wanted:
            continue
        group = groups[project]
        group["count"] += 1
        path = s.files.path(c.storage_key)
        # Bytes on disk, once per file: copies share their source's file.
        group["keys"][c.storage_key] = path.stat().st_size if path.exists() else 0
    rate = s.config.prices.storage_gb_month
    data = []
    for project, group in sorted(groups.items()):
        size = sum(group["keys"].values())
        data.append(T.CurrentCheckpointStorageUsageItem(
            project_id=project, org_user_urn=call.who.user_urn, user_email=call.who.email,
            user_name=call.who.name, checkpoint_count=group["count"], size_bytes=size,
            size_gigabytes=size / GB, estimated_monthly_cost_usd=size / GB * rate))
    return T.CurrentCheckpointStorageUsageResponse(effective_rate_usd_per_gigabyte_month=rate,
                                                   data=data)
