"""retrieve_future (the long poll) and cancel_future."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import JSONResponse, Response

from tinkex import types as T
from tinkex.emulator.errors import not_found
from tinkex.emulator.state.requests import FutureRecord

from ..encoding import encode_result
from ..services import Services
from .registry import Call, handles

PAUSED_HOLD = 1.0
"""Longest hold of a poll while the future's queue is paused."""


def _try_again(record: FutureRecord) -> Response:
    """The quiet "not ready" answer: 408 with the queue state the SDK reports to observers."""
    body: dict[str, Any] = {"type": "try_again", "request_id": record.request_id,
                            "queue_state": record.queue_state,
                            "queue_state_reason": record.queue_state_reason}
    return JSONResponse(body, status_code=408)


@handles("retrieve_future")
async def retrieve_future(s: Services, call: Call) -> Response:
    body: T.FutureRetrieveRequest = call.body
    record = s.futures.get(body.request_id, call.owner)
    hold = s.faults.first_poll_hold(record)
    if hold > 0:
        await asyncio.sleep(hold)
        return _try_again(record)
    # A paused queue is reported within a second (one poll a second, no hot loop), so
    # clients can tell their observers; otherwise hold the poll until the result is ready.
    paused = record.queue_state != "active"
    if not await s.futures.wait(record, min(s.config.poll_hold, PAUSED_HOLD) if paused
                                else s.config.poll_hold):
        return _try_again(record)
    if record.state == "failed":
        return JSONResponse({"error": record.error, "category": record.category})
    content, media_type = encode_result(record.result, call.request.headers.get("accept"))
    return Response(content, media_type=media_type)


@handles("cancel_future")
def cancel_future(s: Services, call: Call) -> None:
    # Work is short and already queued in order; cancelling only means nobody will ask again.
    body: T.FutureCancelRequest = call.body
    s.futures.get(body.request_id, call.owner)


RETRIEVE_FUTURES_HOLD = 30.0
"""Longest hold of a retrieve_futures poll that lets the server decide (timeout null)."""


@handles("retrieve_futures")
async def retrieve_futures(s: Services, call: Call) -> T.FuturesRetrieveResponse:
    body: T.FuturesRetrieveRequest = call.body
    target = body.target
    sampler = s.store.sampler(target.sampling_session_id)
    if sampler is None or sampler.owner != call.owner:
        raise not_found("sampling session", target.sampling_session_id)
    hold = min(s.config.poll_hold, RETRIEVE_FUTURES_HOLD) if body.timeout is None else min(
        max(body.timeout, 0.0), RETRIEVE_FUTURES_HOLD)
    events, cursor = await s.completions.poll(
        (target.sampling_session_id, target.cloned_sampler_id), body.prev_cursor, hold)
    return T.FuturesRetrieveResponse(cursor=cursor, completions=[
        T.FutureFailed(state="failed", request_id=e.request_id) if e.failed
        else T.FutureFinished(state="finished", request_id=e.request_id) for e in events])
