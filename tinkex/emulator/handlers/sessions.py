"""Session lifecycle (create, heartbeat, finish) and the REST views of sessions."""

from __future__ import annotations

import uuid

from tinkex import types as T

from ..errors import ApiError
from ..services import Services
from . import Call, handles
from .paging import page


@handles("create_session")
def create_session(s: Services, call: Call) -> T.CreateSessionResponse:
    body: T.CreateSessionRequest = call.body
    session_id = str(uuid.uuid4())
    s.store.add_session(session_id, call.owner, body.sdk_version, body.tags,
                        body.user_metadata, body.project_id, body.display_name)
    return T.CreateSessionResponse(session_id=session_id)


@handles("session_heartbeat")
def session_heartbeat(s: Services, call: Call) -> T.SessionHeartbeatResponse:
    body: T.SessionHeartbeatRequest = call.body
    session = s.session(call.owner, body.session_id, active=False)
    if session.finished_reason is not None:
        # 410 is what stops the heartbeat loop of SDK >= 0.27.2.
        raise ApiError(410, f"session {body.session_id!r} is finished")
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
