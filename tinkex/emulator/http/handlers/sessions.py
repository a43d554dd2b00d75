"""Session lifecycle (create, heartbeat, finish) and the REST views of sessions.

Besides listing and describing sessions: moving one into a project, searching
them (filters, newest first, a cursor) and exporting a session's requests as a
trace.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.responses import Response

from tinkex import types as T
from tinkex.emulator.errors import HTTPProblem
from tinkex.emulator.state.ledger import RequestRow
from tinkex.emulator.state.store import Session

from ..auth import owner_for_urn, urn_of
from ..services import Services
from .paging import page
from .registry import Call, handles
from .rest import wire_time


@handles("create_session")
def create_session(s: Services, call: Call) -> T.CreateSessionResponse:
    body: T.CreateSessionRequest = call.body
    project = s.project_for(call.owner, body.project_id) if body.project_id else None
    session_id = str(uuid.uuid4())
    s.store.add_session(session_id, call.owner, body.sdk_version, body.tags,
                        body.user_metadata, project, body.display_name)
    return T.CreateSessionResponse(session_id=session_id)


@handles("session_heartbeat")
def session_heartbeat(s: Services, call: Call) -> T.SessionHeartbeatResponse:
    body: T.SessionHeartbeatRequest = call.body
    session = s.session(call.owner, body.session_id, active=False)
    if session.finished_reason is not None:
        # 410 is what stops the heartbeat loop of SDK >= 0.27.2.
        raise HTTPProblem(410, f"session {body.session_id!r} is finished")
    s.store.touch_session(body.session_id)
    return T.SessionHeartbeatResponse(type="session_heartbeat")


@handles("finish_session")
def finish_session(s: Services, call: Call) -> None:
    body: T.SessionFinishRequest = call.body
    session_id = call.params["session_id"]
    s.session(call.owner, session_id, active=False)
    s.store.finish_session(session_id, body.reason.type.value, body.detail)


@handles("list_sessions")
def list_sessions(s: Services, call: Call) -> T.ListSessionsResponse:
    offset, limit = page(call.params)
    return T.ListSessionsResponse(sessions=s.store.sessions(call.owner, offset, limit))


@handles("get_session")
def get_session(s: Services, call: Call) -> T.GetSessionResponse:
    session_id = call.params["session_id"]
    session = s.session(call.owner, session_id, active=False)
    runs, samplers = s.store.session_children(session_id)
    return T.GetSessionResponse(training_run_ids=runs, sampler_ids=samplers,
                                user_metadata=session.user_metadata,
                                display_name=session.display_name)


# -- projects ---------------------------------------------------------------------------


def default_project(owner: str) -> str:
    """The project of a session created without one (each account has its own)."""
    return "proj-default-" + owner.removeprefix("user-")


def session_project(session: Session) -> str:
    return session.project_id or default_project(session.owner)


@handles("assign_session_project")
def assign_session_project(s: Services, call: Call) -> None:
    body: T.AssignSessionProjectRequest = call.body
    session_id = call.params["session_id"]
    session = s.session(call.owner, session_id, active=False)
    project = s.project_for(call.owner, body.project_id)
    s.store.set_session_project(session_id, project)
    s.ledger.audit(call.owner, "project_session_assign",
                   {"actor": call.who.user_urn, "session_id": session_id,
                    "project_id": project, "previous_project_id": session_project(session)})


# -- search -----------------------------------------------------------------------------

ACTIVE_WINDOW = 60.0
"""A session heard from (created, heartbeat, any call) this recently counts as active."""


def session_status(session: Session, now: float) -> Any:
    if session.finished_reason is not None:
        return T.ClientSessionFinished(
            type="client_finished", detail=session.finished_detail,
            reason=T.SessionFinishReason(type=T.SessionFinishStatus(session.finished_reason)))
    if now - (session.last_seen or session.created_at) <= ACTIVE_WINDOW:
        return T.SessionActive(type="active")
    return None


def _status_matches(status: Any, queries: list[Any] | None) -> bool:
    if queries is None:
        return True
    kind = status.type if status is not None else None
    for query in queries:
        if query.type != kind:
            continue
        reasons = getattr(query, "reasons", None)
        if reasons is None or status.reason.type in reasons:
            return True
    return False


def _name_matches(name: str | None, query: str) -> bool:
    words = query.lower().split()
    return name is not None and all(word in name.lower() for word in words)


def _owners(call: Call, owner: Any) -> set[str]:
    """Owners whose sessions the search may return (each account is its own organization)."""
    if owner is not None and owner.type == "user":
        return {o for urn in owner.owner_urns if (o := owner_for_urn(urn)) == call.owner}
    return {call.owner}


@handles("search_sessions")
def search_sessions(s: Services, call: Call) -> T.SessionSearchResponse:
    body: T.SessionSearchRequest = call.body
    if body.project_ids is not None:
        for project in body.project_ids:
            holder = s.ledger.project_owner(project)
            if holder not in (None, call.owner) or (
                    project.startswith("proj-default-") and project != default_project(call.owner)):
                raise HTTPProblem(403, f"project {project!r} is not one you may list")
    owners, now = _owners(call, body.owner), time.time()
    found: list[T.SessionSummary] = []
    cursor = body.cursor
    after = None if cursor is None else (cursor.last_created_at, cursor.last_session_id)
    for session in s.store.owned_sessions(call.owner):
        if session.owner not in owners:
            continue
        # Compared as sent on the wire (microseconds), so the cursor's own session is past.
        if after is not None and (wire_time(session.created_at), session.session_id) >= after:
            continue
        id_match = body.session_id is not None and session.session_id == body.session_id
        name_match = body.display_name is not None and _name_matches(session.display_name,
                                                                     body.display_name)
        if (body.session_id is not None or body.display_name is not None) and not (
                id_match or name_match):
            continue
        project = session_project(session)
        if body.project_ids is not None and project not in body.project_ids:
            continue
        metadata = {str(k): str(v) for k, v in (session.user_metadata or {}).items()}
        if any(metadata.get(k) != v for k, v in body.user_metadata.items()):
            continue
        status = session_status(session, now)
        if not _status_matches(status, body.statuses):
            continue
        count, size = s.store.session_checkpoints(session.session_id)
        found.append(T.SessionSummary(
            session_id=session.session_id, created_at=wire_time(session.created_at),
            owner=urn_of(session.owner), project_id=project, status=status,
            checkpoints_count=count, checkpoint_storage_bytes=size,
            display_name=session.display_name, user_metadata=metadata or None))
        if len(found) > body.limit:
            break
    more = len(found) > body.limit
    page = found[:body.limit]
    next_cursor = T.SessionSearchCursor(last_created_at=page[-1].created_at,
                                        last_session_id=page[-1].session_id) if more else None
    return T.SessionSearchResponse(sessions=page, next_cursor=next_cursor)


# -- trace export -----------------------------------------------------------------------

TRACE_URL_TTL = 3600.0


@handles("export_session_trace")
def export_session_trace(s: Services, call: Call) -> T.SessionTraceExportResponse:
    session_id = call.params["session_id"]
    s.session(call.owner, session_id, active=False)
    # The trace is rebuilt from the request log on download, so it is never stale.
    token, _ = s.links.issue("trace", {"s": session_id, "o": call.owner}, TRACE_URL_TTL)
    base = str(call.request.base_url).rstrip("/")
    return T.SessionTraceExportResponse(status=T.SessionTraceExportStatus.ready,
                                        url=f"{base}/_emulator/traces/{token}")


async def download_trace(s: Services, token: str) -> Response:
    """``GET /_emulator/traces/{token}``: the session's requests as a trace Perfetto opens."""
    claims = s.links.open("trace", token)
    session = s.store.session(claims["s"])
    if session is None or session.owner != claims["o"]:
        raise HTTPProblem(404, "the session behind this URL no longer exists")
    trace = build_trace(session, s.ledger.requests(session.session_id))
    return Response(json.dumps(trace, separators=(",", ":")), media_type="application/json",
                    headers={"Content-Disposition":
                             f'attachment; filename="{session.session_id}.pftrace"'})


def build_trace(session: Session, requests: list[RequestRow]) -> dict[str, Any]:
    """Chrome trace-event JSON: one track per model or sampler, a slice per request.

    Each request shows as its queueing time (submitted -> started) and its run
    (started -> finished); times are microseconds since the session began.
    """
    origin = session.created_at
    tracks: dict[str, int] = {}
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": 1, "name": "process_name",
         "args": {"name": f"session {session.session_id}"}}]
    for req in requests:
        target = req.target or "session"
        if target not in tracks:
            tracks[target] = len(tracks) + 1
            events.append({"ph": "M", "pid": 1, "tid": tracks[target], "name": "thread_name",
                           "args": {"name": target}})
        tid = tracks[target]
        args = {"request_id": req.request_id, "state": req.state or "pending"}
        if req.started is not None:
            events.append({"ph": "X", "pid": 1, "tid": tid, "cat": "queue",
                           "name": f"{req.request_type} (queued)",
                           "ts": round((req.submitted - origin) * 1e6),
                           "dur": max(0, round((req.started - req.submitted) * 1e6)),
                           "args": args})
            events.append({"ph": "X", "pid": 1, "tid": tid, "cat": "run",
                           "name": req.request_type or "request",
                           "ts": round((req.started - origin) * 1e6),
                           "dur": max(0, round(((req.finished or req.started) - req.started)
                                               * 1e6)), "args": args})
        else:
            events.append({"ph": "i", "s": "t", "pid": 1, "tid": tid, "cat": "queue",
                           "name": f"{req.request_type} (submitted)",
                           "ts": round((req.submitted - origin) * 1e6), "args": args})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"session_id": session.session_id, "requests": len(requests)}}
