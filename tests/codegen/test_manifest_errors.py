"""Malformed manifests: each produces one located line ``file:line: key.path: what``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinkex.codegen.check import check_manifest
from tinkex.codegen.errors import ManifestError
from tinkex.codegen.yamlsource import load_yaml

BASE = (Path(__file__).parent.parent / "fixtures" / "petstore.yaml").read_text(encoding="utf-8")


def _line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in manifest")


def _problems(text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        check_manifest(load_yaml("pets.yaml", text))
    return str(info.value).splitlines()


# (description, replace-old, replace-new, line-needle in the mutated text, expected message part)
CASES = [
    ("unknown top-level key", "manifest_version: 1", "manifest_version: 1\nendpoints: []",
     "endpoints: []", "pets.yaml:{line}: endpoints: unknown key 'endpoints'"),
    ("unknown operation key", "    pagination: {offset", "    paginate: true\n    pagination: {offset",
     "paginate: true", "pets.yaml:{line}: operations[0].paginate: unknown key 'paginate'"),
    ("typo in a schema keyword", "    required: [id, name, species]",
     "    requried: [id, name, species]", "requried:",
     "pets.yaml:{line}: types.Pet.requried: unknown key 'requried' here"),
    ("dangling type reference", "      species: {$ref: Species}\n      tags",
     "      species: {$ref: Specie}\n      tags", "{$ref: Specie}",
     "pets.yaml:{line}: types.Pet.properties.species.$ref: unknown type 'Specie'"),
    ("duplicate operation id", "  - id: get_pet", "  - id: create_pet", "  - id: create_pet\n",
     "duplicate operation id 'create_pet'"),
    ("duplicate method and path", "    path: /groom", "    path: /pets", None,
     "duplicate route POST /pets"),
    ("unknown pool", "    pool: polling", "    pool: polls", "pool: polls",
     "pets.yaml:{line}: operations[4].pool: unknown pool 'polls' (known: main, polling)"),
    ("poll interval of zero", "    pool: polling", "    pool: polling\n    poll_interval: 0",
     "poll_interval: 0", "pets.yaml:{line}: operations[4].poll_interval: 0 is less than or "
     "equal to the minimum of 0"),
    ("unknown retry policy", "    retry: none", "    retry: never", "retry: never",
     "pets.yaml:{line}: operations[4].retry: unknown retry policy 'never'"),
    ("bad method", "    method: GET\n    path: /pets\n", "    method: FETCH\n    path: /pets\n",
     "method: FETCH", "pets.yaml:{line}: operations[0].method: 'FETCH' is not one of"),
    ("negative pool size", "main: {connections: 4}", "main: {connections: -4}",
     "connections: -4", "pets.yaml:{line}: pools.main.connections: -4 is less than the minimum of 1"),
    ("bad status class", "statuses: [429, 5XX]", "statuses: [429, 6XX]", "6XX",
     "pets.yaml:{line}: retry_policies.standard.statuses[1]: invalid value"),
    ("path placeholder without parameter", "    path: /pets/{pet_id}", "    path: /pets/{pet}",
     "/pets/{pet}", "path placeholder {pet} has no path parameter"),
    ("future result type missing", "future: {result: GroomResult", "future: {result: Grooming",
     "result: Grooming", "pets.yaml:{line}: operations[3].future.result: unknown type 'Grooming'"),
    ("futures.retrieve names no operation", "  retrieve: get_job", "  retrieve: fetch_job",
     "retrieve: fetch_job", "pets.yaml:{line}: futures.retrieve: unknown operation 'fetch_job'"),
    ("duplicate YAML key", "  title: Pet Store", "  title: Pet Store\n  title: Again",
     "title: Again", "pets.yaml:{line}: api.title: duplicate key (first defined on line"),
    ("GET with a body", "    method: GET\n    path: /pets/{pet_id}\n    summary: One pet.\n",
     "    method: GET\n    path: /pets/{pet_id}\n    summary: One pet.\n    body: NewPet\n",
     "body: NewPet\n    result: Pet", "a GET operation cannot have a body"),
    ("SDK group missing", "sdk: {group: jobs, method: poll}", "sdk: {group: work, method: poll}",
     "group: work", "pets.yaml:{line}: operations[4].sdk.group: unknown SDK group 'work'"),
    ("unbounded retry without a budget", "  none: {max_attempts: 1}", "  none: {max_attempts: null}",
     "max_attempts: null", "needs budget_seconds"),
    ("wrong value type", "  poll_timeout: 5", "  poll_timeout: soon", "poll_timeout: soon",
     "pets.yaml:{line}: futures.poll_timeout: 'soon' is not of type 'number'"),
    ("invalid YAML", "  title: Pet Store", "  title: [Pet Store", None, "invalid YAML"),
    ("unknown circuit breaker", "    circuit_breaker: store", "    circuit_breaker: shop",
     "circuit_breaker: shop",
     "pets.yaml:{line}: operations[2].circuit_breaker: unknown circuit breaker 'shop' (known: store)"),
    ("bad breaker scope", "    scope: operation", "    scope: host", "scope: host",
     "pets.yaml:{line}: circuit_breakers.store.scope: 'host' is not one of ['pool', 'operation']"),
    ("breaker threshold of zero", "    failure_threshold: 3", "    failure_threshold: 0",
     "failure_threshold: 0",
     "pets.yaml:{line}: circuit_breakers.store.failure_threshold: 0 is less than the minimum of 1"),
    ("unknown breaker key", "    reset_seconds: 5", "    reset_seconds: 5\n    reset_after: 5",
     "reset_after: 5", "pets.yaml:{line}: circuit_breakers.store.reset_after: unknown key"),
    ("rate limit without statuses", "  statuses: [429]\n  default_seconds",
     "  statuses: []\n  default_seconds", "statuses: []",
     "pets.yaml:{line}: rate_limit.statuses: [] should be non-empty"),
    ("rate_limited without a rate_limit section",
     "rate_limit:\n  statuses: [429]\n  default_seconds: 0.5\n  max_seconds: 5\n", "",
     "rate_limited: false", "pets.yaml:{line}: operations[4].rate_limited: needs the "
     "rate_limit section"),
    ("multipart without a body type", "    body: PhotoUpload\n    body_encoding: {type: multipart}",
     "    body_encoding: {type: multipart}", "body_encoding: {type: multipart}",
     "pets.yaml:{line}: operations[7].body_encoding: a multipart body needs a body type"),
    ("raw body with a type", "    body_encoding: {type: raw, media: image/png}",
     "    body_encoding: {type: raw, media: image/png}\n    body: NewPet  # raw",
     "body: NewPet  # raw",
     "pets.yaml:{line}: operations[8].body: a raw body has no body type"),
    ("unknown body encoding", "body_encoding: {type: multipart}", "body_encoding: {type: form}",
     "type: form", "pets.yaml:{line}: operations[7].body_encoding.type: 'form' is not one of"),
    ("media on a multipart body", "body_encoding: {type: multipart}",
     "body_encoding: {type: multipart, media: text/csv}", "media: text/csv",
     "pets.yaml:{line}: operations[7].body_encoding.media: media is for raw bodies only"),
    ("streaming operation with a result", "    stream: {format: ndjson, event: Pet}",
     "    stream: {format: ndjson, event: Pet}\n    result: Pet", "stream: {format: ndjson",
     "pets.yaml:{line}: operations[6].stream: a streaming operation cannot also have result"),
    ("unknown stream format", "stream: {format: ndjson", "stream: {format: jsonl",
     "format: jsonl", "pets.yaml:{line}: operations[6].stream.format: 'jsonl' is not one of"),
    ("stream event type missing", "stream: {format: ndjson, event: Pet}",
     "stream: {format: ndjson, event: Pets}", "event: Pets",
     "pets.yaml:{line}: operations[6].stream.event: unknown type 'Pets'"),
    ("tracing without its variable", "tracing:\n  env: PETSTORE_OTEL", "tracing:\n  propagate: true",
     "tracing:", "pets.yaml:{line}: tracing: 'env' is required"),
    ("tracing variable not an env name", "  env: PETSTORE_OTEL", "  env: petstore-otel",
     "env: petstore-otel", "pets.yaml:{line}: tracing.env: 'petstore-otel' is not valid here"),
    ("rate_limited is a boolean", "    rate_limited: false", "    rate_limited: never",
     "rate_limited: never",
     "pets.yaml:{line}: operations[4].rate_limited: 'never' is not of type 'boolean'"),
    ("clone block of zero", "    future: {result: GroomResult, request_type: Groom}\n",
     "    future: {result: GroomResult, request_type: Groom}\n"
     "    sequence: {field: style, scope: pet_id, clone_block: 0}\n", "clone_block: 0",
     "pets.yaml:{line}: operations[3].sequence.clone_block: 0 is less than the minimum of 1"),
    ("bad poll backoff status", "backoff_statuses: [429, 5XX]", "backoff_statuses: [429, 6XX]",
     "6XX", "pets.yaml:{line}: futures.backoff_statuses[1]: invalid value"),
    ("futures without backoff statuses", "  backoff_statuses: [429, 5XX]\n", "", "futures:",
     "pets.yaml:{line}: futures: 'backoff_statuses' is required"),
    ("chunk limit of zero", "    pool: polling", "    pool: polling\n"
     "    chunking: {max_items: 0, max_bytes: 100}", "max_items: 0",
     "pets.yaml:{line}: operations[4].chunking.max_items: 0 is less than the minimum of 1"),
    ("chunking without a byte limit", "    pool: polling", "    pool: polling\n"
     "    chunking: {max_items: 10}", "max_items: 10",
     "pets.yaml:{line}: operations[4].chunking: 'max_bytes' is required"),
    ("backpressure pause of zero", "tracing:\n  env: PETSTORE_OTEL",
     "dispatch_limits:\n  jobs:\n    max_in_flight: 2\n    backpressure: {pause_seconds: 0}\n"
     "tracing:\n  env: PETSTORE_OTEL", "pause_seconds: 0",
     "pets.yaml:{line}: dispatch_limits.jobs.backpressure.pause_seconds: 0 is less than or "
     "equal to the minimum of 0"),
    ("backpressure without its pause", "tracing:\n  env: PETSTORE_OTEL",
     "dispatch_limits:\n  jobs:\n    max_in_flight: 2\n    backpressure: {large_bytes: 10}\n"
     "tracing:\n  env: PETSTORE_OTEL", "large_bytes: 10",
     "pets.yaml:{line}: dispatch_limits.jobs.backpressure: 'pause_seconds' is required"),
    ("protobuf send_as names no operation", "    pool: polling",
     "    pool: polling\n    protobuf: {request: JobRequest, send_as: post_job}", "send_as: post_job",
     "pets.yaml:{line}: operations[4].protobuf.send_as: unknown operation 'post_job'"),
    ("protobuf send_as to another message", "    pool: polling",
     "    pool: polling\n    protobuf: {request: JobRequest, send_as: list_pets}",
     "send_as: list_pets", "pets.yaml:{line}: operations[4].protobuf.send_as: list_pets takes "
     "protobuf request None, not 'JobRequest'"),
    ("error map naming a class that is not a status error", "exception: BadRequestError}",
     "exception: ConfigError}", "exception: ConfigError",
     "pets.yaml:{line}: errors.map[0].exception: 'ConfigError' is not an HTTP status error class"),
    ("protobuf message not a name", "    pool: polling",
     "    pool: polling\n    protobuf: {result: job-result}", "job-result",
     "pets.yaml:{line}: operations[4].protobuf.result: 'job-result' is not valid here"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_manifest_is_reported_on_one_located_line(case):
    _, old, new, needle, expected = case
    assert old in BASE, old
    text = BASE.replace(old, new, 1)
    problems = _problems(text)
    if "{line}" in expected:
        expected = expected.format(line=_line_of(text, needle))
    assert any(expected in p for p in problems), problems
    for p in problems:  # every problem is one located line
        assert p.startswith("pets.yaml:") and p.split(":")[1].isdigit(), p


def test_all_problems_are_reported_not_just_the_first():
    text = BASE.replace("    pool: polling", "    pool: polls").replace("    retry: none", "    retry: x")
    problems = _problems(text)
    assert len(problems) == 2, problems


def test_sound_manifest_passes():
    check_manifest(load_yaml("pets.yaml", BASE))
