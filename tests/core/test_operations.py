"""The document is validated on load and turned into an immutable operation table."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tinkex.core.errors import DocumentError, InternalServerError
from tinkex.core.model.operations import OperationTable, python_name
from tinkex.core.retry import Backoff, StatusSet
from tinkex.core.transport import PoolSpec, Timeout

ROOT = Path(__file__).resolve().parents[2]


def test_operations_are_resolved_from_the_document(pet_table):
    create, get_pet, groom, poll = (pet_table[i] for i in ("create_pet", "get_pet", "groom_pet",
                                                           "get_job"))
    assert (create.method, create.path, create.body_type, create.result_type) == \
        ("POST", "/pets", "NewPet", "Pet")
    assert [(p.name, p.location, p.required) for p in create.params] == \
        [("name", "body", True), ("species", "body", True)]
    assert [(p.name, p.location, p.required) for p in get_pet.params_in("path")] == \
        [("pet_id", "path", True)]
    assert create.idempotent and not get_pet.idempotent and create.auth
    assert create.pool == "main" and create.retry.name == "standard"
    assert create.retry.statuses == StatusSet((429, "5XX")) and create.retry.connection_errors
    assert create.retry.backoff == Backoff(initial=0.01, max=0.05, multiplier=2, jitter=0.1)
    assert create.retry.retry_after_max == 1 and create.retry.max_attempts == 4
    assert (poll.pool, poll.retry.name, poll.retry.max_attempts) == ("polling", "none", 1)
    assert poll.timeout == Timeout(2.0, 5.0) and create.timeout == Timeout(2.0, 10.0)
    assert groom.future is not None and groom.future.result_type == "GroomResult"
    assert groom.future.request_type == "Groom" and groom.future.result_media == ("application/json",)
    assert [(p.name, p.default) for p in groom.params] == [("pet_id", None), ("style", "tidy")]
    assert create.request_media == ("application/json",) and get_pet.request_media == ()
    assert (create.sdk_group, create.sdk_method) == ("pets", "create")


def test_pagination_defaults_and_root_sections(pet_table):
    listing = pet_table.by_sdk("pets", "list")
    assert listing.id == "list_pets" and listing.pagination is not None
    assert (listing.pagination.offset, listing.pagination.limit, listing.pagination.items,
            listing.pagination.total) == ("offset", "limit", "pets", "page.total_count")
    assert [(p.name, p.location, p.default) for p in listing.params] == \
        [("offset", "query", 0), ("limit", "query", 2)]
    assert pet_table.pools == {"main": PoolSpec("main", 4), "polling": PoolSpec("polling", 4)}
    assert pet_table.auth.header == "X-Pet-Token" and pet_table.auth.prefix == "pet-"
    assert pet_table.api.env == {"base_url": "PETSTORE_URL"}
    assert pet_table.api.base_url == "http://127.0.0.1:8080"
    assert pet_table.idempotency is not None and pet_table.idempotency.header == "Idempotency-Key"
    assert pet_table.futures is not None and pet_table.futures.retrieve == "get_job"
    assert 202 in pet_table.futures.not_ready.statuses and pet_table.futures.not_ready.value == "pending"
    assert 410 in pet_table.futures.expired_statuses
    assert pet_table.session is None and pet_table.telemetry is None and not pet_table.dispatch_limits
    rule = pet_table.errors.rule_for(503)
    assert rule is not None and rule.exception is InternalServerError and rule.retryable
    assert pet_table.errors.rule_for(418) is None
    assert [g.class_name for g in pet_table.groups] == ["PetsAPI", "JobsAPI"]
    assert len(pet_table) == 9 and "get_pet" in pet_table


def test_the_table_is_immutable(pet_table):
    with pytest.raises(dataclasses.FrozenInstanceError):
        pet_table["get_pet"].pool = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        pet_table.operations["x"] = pet_table["get_pet"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        pet_table["get_pet"].retry.max_attempts = 9  # type: ignore[misc]


def test_operation_level_security_and_idempotency_overrides(variant):
    def change(doc):
        doc["paths"]["/pets/{pet_id}"]["get"]["security"] = []
        doc["paths"]["/pets"]["post"]["x-tinkex-idempotent"] = False
        doc["paths"]["/pets"]["get"]["x-tinkex-idempotent"] = True
    table = variant(change)
    assert not table["get_pet"].auth and table["list_pets"].auth
    assert not table["create_pet"].idempotent and table["list_pets"].idempotent


def test_python_names_of_wire_names():
    assert [python_name(w) for w in ("X-Tinker-Request-Type", "class", "2fa", "seq_id", "a.b",
                                     "ids[]")] == \
        ["x_tinker_request_type", "class_", "_2fa", "seq_id", "a_b", "ids__"]


# ---- refusal --------------------------------------------------------------------------


def _problems(variant, change) -> list[str]:
    with pytest.raises(DocumentError) as info:
        variant(change)
    return list(info.value.problems)


def test_junk_extension_values_are_refused_with_their_location(variant):
    def change(doc):
        doc["paths"]["/pets"]["get"]["x-tinkex-pool"] = 7
        doc["paths"]["/pets"]["post"]["x-tinkex-timeout"] = {"read": -1}
        doc["x-tinkex-retry-policies"]["standard"]["statuses"] = ["6XX"]
        doc["x-tinkex-whatever"] = True
        del doc["paths"]["/groom"]["post"]["x-tinkex-sdk"]
    problems = _problems(variant, change)
    assert "paths./pets.get.x-tinkex-pool: 7 is not of type 'string'" in problems
    assert any(p.startswith("paths./pets.post.x-tinkex-timeout.read: -1") for p in problems)
    assert any(p.startswith("<root>.x-tinkex-retry-policies.standard.statuses[0]:") for p in problems)
    assert "<root>.x-tinkex-whatever: unknown extension key" in problems
    assert "paths./groom.post: missing required extension x-tinkex-sdk" in problems
    assert len(problems) == 5


def test_dangling_names_are_refused(variant):
    def change(doc):
        doc["paths"]["/pets"]["get"]["x-tinkex-pool"] = "nowhere"
        doc["paths"]["/pets"]["post"]["x-tinkex-retry"] = "forever"
        doc["paths"]["/groom"]["post"]["x-tinkex-future"]["result"] = "Haircut"
        doc["paths"]["/groom"]["post"]["x-tinkex-dispatch"] = "fast"
        doc["x-tinkex-futures"]["retrieve"] = "poll_everything"
        doc["paths"]["/pets/{pet_id}"]["get"]["x-tinkex-sdk"] = {"group": "pets", "method": "list"}
        doc["x-tinkex-defaults"]["pool"] = "gone"
    problems = _problems(variant, change)
    assert "paths./pets.get.x-tinkex-pool: unknown pool 'nowhere' (known: main, polling)" in problems
    assert "paths./pets.post.x-tinkex-retry: unknown retry policy 'forever' (known: none, standard)" \
        in problems
    assert any(p.startswith("paths./groom.post.x-tinkex-future.result: unknown type 'Haircut'")
               for p in problems)
    assert "paths./groom.post.x-tinkex-dispatch: unknown dispatch limit 'fast' (known: none defined)" \
        in problems
    assert any(p.startswith("<root>.x-tinkex-futures.retrieve: unknown operation 'poll_everything'")
               for p in problems)
    assert "paths./pets/{pet_id}.get.x-tinkex-sdk: pets.list is already list_pets" in problems
    assert any(p.startswith("<root>.x-tinkex-defaults.pool: unknown pool 'gone'") for p in problems)


def test_unbounded_policy_without_budget_is_refused(variant):
    def change(doc):
        doc["x-tinkex-retry-policies"]["standard"]["max_attempts"] = None
    assert _problems(variant, change) == [
        "<root>.x-tinkex-retry-policies.standard: an unbounded policy (max_attempts: null) "
        "needs budget_seconds"]


def test_the_message_lists_every_problem(variant):
    def change(doc):
        doc["paths"]["/pets"]["get"]["x-tinkex-pool"] = 7
        doc["paths"]["/pets"]["post"]["x-tinkex-pool"] = 8
    with pytest.raises(DocumentError) as info:
        variant(change)
    assert str(info.value).splitlines() == [
        "the API document is invalid (2 problem(s)):",
        "  paths./pets.get.x-tinkex-pool: 7 is not of type 'string'",
        "  paths./pets.post.x-tinkex-pool: 8 is not of type 'string'"]


def test_a_file_finds_its_sibling_schemas_and_bad_files_are_refused(pet_dir, tmp_path):
    assert len(OperationTable.load(pet_dir / "openapi.json")) == 9
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(DocumentError, match="cannot read"):
        OperationTable.load(tmp_path / "broken.json", extension_schemas=pet_dir / "extensions.schema.json")


def test_the_project_document_loads_with_the_packaged_schemas():
    path = ROOT / "tinkex" / "_spec" / "openapi.json"
    if not path.exists():
        pytest.skip("the project's document has not been generated yet")
    table = OperationTable.load(json.loads(path.read_text()))
    assert len(table) > 0 and table.client_class


def test_the_packaged_document_passes_the_schema_checks_that_import_skips():
    """``tinkex._spec`` skips the JSON Schema checks at run time; they must hold for it."""
    from tinkex._spec import load_document

    OperationTable.load(load_document(), check_schemas=True)


def test_skipping_the_schema_checks_still_refuses_dangling_names(pet_dir):
    doc = json.loads((pet_dir / "openapi.json").read_text())
    doc["x-tinkex-defaults"]["pool"] = "nowhere"
    with pytest.raises(DocumentError, match="unknown pool 'nowhere'"):
        OperationTable.load(doc, check_schemas=False)
