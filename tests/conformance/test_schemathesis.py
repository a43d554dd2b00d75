"""Property-based conformance: schemathesis drives every operation of ``spec/openapi.json``.

Cases are generated from the document (positive mode, fixed seed) and sent to a
real emulator process with a valid key. Two checks run on every answer:
``not_a_server_error`` (no 5xx, whatever the input) and
``response_schema_conformance`` (every documented response body matches its
schema, including the ``default`` error schema). Most random ids point at
nothing, so this mostly exercises validation and the 4xx paths; the SDK
conformance tests cover the happy paths.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import requests

from tinkex.emulator.run.process import EmulatorProcess

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

SPEC = Path(__file__).resolve().parents[2] / "spec" / "openapi.json"
EXAMPLES_PER_OPERATION = 20
MIN_CASES = 500
SEED = 20261121


@pytest.mark.conformance
@pytest.mark.timeout(300)
def test_generated_requests_get_no_server_errors_and_schema_valid_answers(
        tmp_path: Path) -> None:
    schema = schemathesis.openapi.from_path(str(SPEC))
    operations = [result.ok() for result in schema.get_all_operations()]
    # Revoking the key answers everything after it with 401: fuzz that operation last.
    operations.sort(key=lambda op: op.method.upper() == "DELETE" and op.path.endswith("/me"))
    counts: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    with EmulatorProcess(tmp_path, args=["--poll-hold", "0.2"]) as emulator, \
            requests.Session() as session:
        session.headers["X-API-Key"] = "tml-schemathesis"
        for operation in operations:

            @hypothesis.seed(SEED)
            @hypothesis.settings(
                max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
            @hypothesis.given(case=operation.as_strategy())
            def check(case: schemathesis.Case) -> None:
                response = case.call(base_url=emulator.base_url, session=session, timeout=30)
                counts[case.operation.label] += 1
                statuses[response.status_code] += 1
                case.validate_response(
                    response, checks=[not_a_server_error, response_schema_conformance])

            check()
    total = sum(counts.values())
    print(f"schemathesis: {total} cases over {len(counts)} operations; statuses {dict(statuses)}")
    assert len(counts) == len(operations)
    assert total >= MIN_CASES
    assert not [s for s in statuses if s >= 500]
