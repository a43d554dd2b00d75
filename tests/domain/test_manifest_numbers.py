"""The protocol's numbers and rules are the manifest's: a copy of the Tinker manifest with
other values makes the client (and the emulator) behave otherwise.

Each test compiles ``spec/tinker.yaml`` with a few values replaced, exactly as
``make regen`` compiles it, and reads the result through the same operation
table the client and the emulator build.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tinkex import chunking
from tinkex._context import ClientContext
from tinkex._spec import load_operation_table
from tinkex.codegen.build import compile_file
from tinkex.core.errors import APIConnectionError, APIStatusError, FutureExpiredError
from tinkex.core.model.operations import OperationTable, load_table
from tinkex.emulator.http.encoding import _request_decoder
from tinkex.proto import codec
from tinkex.sampling_client import RESAMPLE_POLICY, RetryConfig, _retryable
from tinkex.types import Datum, ModelInput
from tinkex.wire import PassWire

ROOT = Path(__file__).resolve().parents[2]
CHUNKING = "chunking: {max_items: 1024, max_bytes: 5000000, bytes_per_token: 10, bytes_per_element: 10}"
# every value below differs from the Tinker manifest's
BACKPRESSURE = ("backpressure: {pause_seconds: 1, large_bytes: 131072, large_pause_seconds: 5,\n"
                "                   bytes_per_token: 10}")
RESAMPLE = '    statuses: [408, 409, 410, 429, "5XX"]\n    connection_errors: true\n' \
           '    backoff: {initial: 0.5, multiplier: 2, max: 10, jitter: 0.25}\n'
CREATE_TYPE = "type: {type: string, const: create_session, default: create_session}"
BEAT_TYPE = "type: {type: string, const: session_heartbeat, default: session_heartbeat}"
FORWARD_PROTOBUF = ("protobuf: {request: ForwardBackwardRequest, result: ForwardBackwardOutput,\n"
                    "               send_as: forward_backward}")
REPLACEMENTS = {
    # forward's protobuf request goes to its own route; forward_backward takes none
    FORWARD_PROTOBUF: "protobuf: {request: ForwardBackwardRequest, result: ForwardBackwardOutput}",
    "protobuf: {request: ForwardBackwardRequest, result: ForwardBackwardOutput}   #":
        "protobuf: {result: ForwardBackwardOutput}   #",
    CREATE_TYPE: "type: {type: string, const: open_session, default: open_session}",
    BEAT_TYPE: "type: {type: string, const: still_here, default: still_here}",
    BACKPRESSURE: "backpressure: {pause_seconds: 0.25, large_bytes: 1000, large_pause_seconds: 2,"
                  " bytes_per_token: 100}",
    RESAMPLE: "    statuses: [503]\n    connection_errors: false\n"
              "    backoff: {initial: 2, multiplier: 3, max: 7, jitter: 0}\n",
    CHUNKING: "chunking: {max_items: 3, max_bytes: 5000000, bytes_per_token: 100, "
              "bytes_per_element: 10}",
}


def variant_table(directory: Path, replacements: dict[str, str]) -> OperationTable:
    """The operation table of the Tinker manifest with each key of ``replacements`` replaced."""
    text = (ROOT / "spec" / "tinker.yaml").read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    manifest = directory / "tinker.yaml"
    manifest.write_text(text, encoding="utf-8")
    return load_table(compile_file(manifest)[1])


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> OperationTable:
    return variant_table(tmp_path_factory.mktemp("spec"), REPLACEMENTS)


def _datum(tokens: int) -> Datum:
    return Datum(model_input=ModelInput.from_ints(list(range(tokens))), loss_fn_inputs={})


def test_the_chunk_limits_are_the_documents(variant: OperationTable) -> None:
    data = [_datum(10) for _ in range(7)]
    packaged = chunking.chunk_limits("forward_backward", table=load_operation_table())
    assert (packaged.max_items, packaged.max_bytes) == (1024, 5_000_000)
    assert [len(c) for c in chunking.split_batch(data)] == [7]
    limits = chunking.chunk_limits("forward_backward", table=variant)
    assert [len(c) for c in chunking.split_batch(data, limits=limits)] == [3, 3, 1]
    assert chunking.estimate_datum_bytes(data[0], limits) == 1000  # 100 bytes a token
    assert chunking.estimate_datum_bytes(data[0]) == 100


def test_a_call_chunks_as_its_operations_say(variant: OperationTable) -> None:
    both = chunking.chunk_limits("forward", "forward_backward", table=variant)
    assert both.max_items == 3
    with pytest.raises(ValueError, match="no chunking"):
        chunking.chunk_limits("optim_step", table=variant)


def test_sampling_backpressure_pauses_as_the_document_says(variant: OperationTable) -> None:
    for table, small, large in ((load_operation_table(), 1.0, 5.0), (variant, 0.25, 2.0)):
        backpressure = table.dispatch_limits[table["asample"].dispatch or ""].backpressure
        assert backpressure is not None
        assert (backpressure.pause(5), backpressure.pause(20_000)) == (small, large)


def _status_error(status: int) -> APIStatusError:
    return APIStatusError(f"HTTP {status}", status_code=status)


def test_a_sample_is_resubmitted_as_the_resample_policy_says(variant: OperationTable) -> None:
    packaged = RetryConfig().resolved(load_operation_table().retry_policies[RESAMPLE_POLICY])
    changed = RetryConfig().resolved(variant.retry_policies[RESAMPLE_POLICY])
    assert [packaged.backoff.delay(n, 0.0) for n in range(6)] == [0.5, 1, 2, 4, 8, 10]
    assert [changed.backoff.delay(n, 0.0) for n in range(3)] == [2, 6, 7]
    assert packaged.budget_seconds == 7200
    assert [_retryable(_status_error(s), packaged) for s in (409, 429, 500, 400)] == [
        True, True, True, False]
    assert [_retryable(_status_error(s), changed) for s in (409, 429, 503)] == [False, False, True]
    assert _retryable(APIConnectionError("reset"), packaged)
    assert not _retryable(APIConnectionError("reset"), changed)
    expired = FutureExpiredError("gone", status_code=410)
    assert _retryable(expired, changed)  # an expired result is always sampled again
    overridden = RetryConfig(retry_delay_base=0.01, progress_timeout=3).resolved(
        variant.retry_policies[RESAMPLE_POLICY])
    assert (overridden.backoff.initial, overridden.backoff.max, overridden.budget_seconds) == (
        0.01, 7, 3)


def test_session_bodies_carry_the_discriminators_of_their_types(variant: OperationTable) -> None:
    packaged = load_operation_table()
    assert packaged["create_session"].body_constants() == {"type": "create_session"}
    assert packaged["session_heartbeat"].body_constants() == {"type": "session_heartbeat"}
    context = ClientContext(api_key="tml-unused", base_url="http://127.0.0.1:9", table=variant,
                            environ={})
    try:  # no session is created until a call needs one: nothing is sent
        session = context.session
        assert session is not None
        assert session._create_body["type"] == "open_session"  # type: ignore[index]
        assert session._heartbeat_body("s-1") == {"session_id": "s-1", "type": "still_here"}
    finally:
        context.close()


def test_the_protobuf_message_of_each_operation_is_the_documents(variant: OperationTable) -> None:
    packaged = PassWire(protobuf=True, forward_via_fwdbwd=True)
    assert packaged.route("forward").operation == "forward_backward"  # send_as
    assert _request_decoder("forward_backward") is codec.decode_forward_backward_request
    assert _request_decoder("forward") is None  # it is sent as a forward_backward
    changed = PassWire(protobuf=True, forward_via_fwdbwd=True, table=variant)
    assert changed.route("forward").operation == "forward"
    assert _request_decoder("forward_backward", variant) is None
    assert _request_decoder("forward", variant) is codec.decode_forward_backward_request
