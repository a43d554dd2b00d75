"""How a finished future's result goes on the wire, chosen by the poll's ``Accept`` header.

Everything is JSON today. SDK 0.18.1 - 0.24.1 ask for
``application/x-protobuf, application/json`` and take either; SDK >= 0.25 ask for
protobuf only for ForwardBackwardOutput and SampleResponse, which this emulator
cannot produce yet, so they get a 406 that says so instead of JSON they would
reject. Protobuf support belongs here, behind this one function.
"""

from __future__ import annotations

import json

from pydantic import BaseModel

from .errors import ApiError

JSON = "application/json"
PROTOBUF = "application/x-protobuf"


def _accepts_json(accept: str | None) -> bool:
    if not accept:
        return True
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return any(t in (JSON, "*/*", "application/*") for t in types)


def encode_result(result: BaseModel, accept: str | None) -> tuple[bytes, str]:
    """The body and media type of a successful result."""
    if not _accepts_json(accept):
        raise ApiError(406, f"cannot encode {type(result).__name__} as {accept!r}: this "
                            "emulator answers JSON only (SDK <= 0.24.1)")
    payload = result.model_dump(mode="json", exclude_none=True)
    return json.dumps(payload, separators=(",", ":")).encode("utf-8"), JSON
