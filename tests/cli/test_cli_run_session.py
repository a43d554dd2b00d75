"""``tinkex run ...`` and ``tinkex session ...`` against a real emulator."""

from __future__ import annotations

import json
import re

import pytest
import requests
from cli_helpers import Invoke, Seeded, assert_one_error_line, new_key, seed


@pytest.fixture(scope="module")
def tenant(emulator: str) -> tuple[str, list[Seeded]]:
    """One tenant with three runs in three sessions."""
    key = new_key()
    return key, [seed(emulator, key, training=(f"t{i}",), sampler=()) for i in range(3)]


def test_run_list_table(invoke: Invoke, tenant: tuple[str, list[Seeded]]):
    key, runs = tenant
    result = invoke("run", "list", api_key=key)
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:2] == ["RUN", "ID"]
    last_checkpoint = {row.split()[0]: row.split()[-1] for row in rows}
    assert last_checkpoint == {r.run_id: f"weights/t{i}" for i, r in enumerate(runs)}
    column = header.index("BASE MODEL")
    assert all(row[column:].startswith("tinkex/tiny-lm") for row in rows)


def test_run_list_json_and_limits(invoke: Invoke, tenant: tuple[str, list[Seeded]]):
    key, runs = tenant
    data = json.loads(invoke("run", "list", "--format", "json", "--limit", "0",
                             api_key=key).stdout)
    assert {r["training_run_id"] for r in data["training_runs"]} == {r.run_id for r in runs}
    assert data["has_more"] is False
    limited = invoke("run", "list", "--limit", "2", api_key=key)
    assert len(limited.stdout.splitlines()) == 3 and "--limit 0" in limited.stderr
    limited_json = json.loads(invoke("run", "list", "--limit", "2", "--format", "json",
                                     api_key=key).stdout)
    assert len(limited_json["training_runs"]) == 2 and limited_json["has_more"] is True
    assert invoke("run", "list", api_key=new_key()).stdout.strip() == "No training runs."


def test_run_info(invoke: Invoke, tenant: tuple[str, list[Seeded]]):
    key, runs = tenant
    run = runs[0]
    text = invoke("run", "info", run.run_id, api_key=key)
    assert text.exit_code == 0, text.stderr
    assert run.run_id in text.stdout and run.training_paths[0] in text.stdout
    data = json.loads(invoke("run", "info", run.run_id, "--format", "json", api_key=key).stdout)
    assert data["training_run_id"] == run.run_id and data["lora_rank"] == 4
    assert data["last_checkpoint"]["tinker_path"] == run.training_paths[0]


def test_run_info_and_show_print_the_console_link(emulator: str, invoke: Invoke,
                                                  tenant: tuple[str, list[Seeded]]):
    key, runs = tenant
    run = runs[0]
    for command in ("info", "show"):
        result = invoke("run", command, run.run_id, api_key=key)
        assert result.exit_code == 0, result.stderr
        url = re.search(r"Console:\s+(\S+)", result.stdout)
        assert url and url.group(1).startswith(f"{emulator}/console/link/")
        assert url.group(1).endswith(f"/training_runs/{run.run_id}")
        page = requests.get(url.group(1), timeout=30)  # the link opens the run's page
        assert page.status_code == 200 and run.run_id in page.text
    data = json.loads(invoke("run", "show", run.run_id, "--format", "json", api_key=key).stdout)
    assert data["console_url"].startswith(f"{emulator}/console/link/")  # a fresh link
    assert data["console_url"].endswith(f"/training_runs/{run.run_id}")


def test_run_info_missing(invoke: Invoke):
    assert_one_error_line(invoke("run", "info", "no-such-run"), "no-such-run", "not found",
                          "HTTP 404")


def test_session_list(invoke: Invoke, tenant: tuple[str, list[Seeded]]):
    key, runs = tenant
    result = invoke("session", "list", api_key=key)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "SESSION ID" and set(lines[1:]) == {r.session_id for r in runs}
    data = json.loads(invoke("session", "list", "--format", "json", "--limit", "1",
                             api_key=key).stdout)
    assert len(data["sessions"]) == 1 and data["has_more"] is True
    data = json.loads(invoke("session", "list", "--format", "json", "--limit", "0",
                             api_key=key).stdout)
    assert set(data["sessions"]) == {r.session_id for r in runs} and not data["has_more"]


def test_session_info(invoke: Invoke, tenant: tuple[str, list[Seeded]]):
    key, runs = tenant
    run = runs[1]
    text = invoke("session", "info", run.session_id, api_key=key)
    assert text.exit_code == 0, text.stderr
    assert run.session_id in text.stdout and run.run_id in text.stdout
    data = json.loads(invoke("session", "info", run.session_id, "--format", "json",
                             api_key=key).stdout)
    assert data["session_id"] == run.session_id
    assert data["training_run_ids"] == [run.run_id] and data["sampler_ids"] == []


def test_session_info_missing(invoke: Invoke):
    assert_one_error_line(invoke("session", "info", "nope"), "session 'nope' not found")
