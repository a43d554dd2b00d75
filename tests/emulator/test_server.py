"""The server around the handlers: routing from the document, start-up checks, CLI, fixture."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from emulator_client import StartEmulator

from tinkex._spec import load_operation_table
from tinkex.emulator import Emulator
from tinkex.emulator.http.handlers import HANDLERS, check_registry, unserved
from tinkex.emulator.run.process import EmulatorProcess

REPO = Path(__file__).resolve().parents[2]


def test_every_operation_has_exactly_one_handler() -> None:
    operations = load_operation_table()
    assert unserved(operations) == []  # the operations that would answer 501: none
    assert {op.id for op in operations} == set(HANDLERS)
    check_registry(operations)


def test_a_handler_without_an_operation_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(HANDLERS, "frobnicate", lambda s, c: None)
    with pytest.raises(RuntimeError, match="no operation for \\['frobnicate'\\]"):
        check_registry(load_operation_table())


def test_an_operation_without_a_handler_answers_501_naming_it(
        monkeypatch: pytest.MonkeyPatch, start_emulator: StartEmulator) -> None:
    monkeypatch.delitem(HANDLERS, "healthz")
    assert unserved(load_operation_table()) == ["healthz"]
    emulator = start_emulator()  # starts anyway
    answer = requests.get(emulator.base_url + "/api/v1/healthz", timeout=10)
    assert answer.status_code == 501
    assert "'healthz'" in answer.json()["detail"]
    served = requests.get(emulator.base_url + "/openapi.json", timeout=10)
    assert served.status_code == 200


def test_the_document_is_served_and_unknown_routes_are_json(shared_emulator: Emulator) -> None:
    base = shared_emulator.base_url
    served = requests.get(base + "/openapi.json", timeout=10)
    assert served.content == (REPO / "tinkex" / "_spec" / "openapi.json").read_bytes()
    assert json.loads(served.content)["paths"]
    missing = requests.get(base + "/api/v1/nothing", timeout=10)
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    wrong = requests.delete(base + "/api/v1/healthz", timeout=10)
    assert wrong.status_code == 405 and "detail" in wrong.json()


def test_cli_announces_the_port_and_exits_0_on_sigterm_and_sigint(tmp_path: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tinkex.emulator", "--port", "0", "--data-dir",
             str(tmp_path / sig.name)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("tinkex emulator listening on http://127.0.0.1:")
            base = line.split()[-1]
            assert requests.get(base + "/api/v1/healthz", timeout=10).status_code == 200
            proc.send_signal(sig)
            assert proc.wait(timeout=20) == 0
            assert proc.stdout.read() == ""  # exactly one line on stdout
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_cli_reports_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "tinkex.emulator", "--port", str(port),
                               "--data-dir", str(tmp_path)], capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 1 and "tinkex emulator:" in done.stderr


def test_emulator_process_and_the_pytest_fixture(tinkex_emulator: str, tmp_path: Path) -> None:
    assert requests.get(tinkex_emulator + "/api/v1/healthz", timeout=10).status_code == 200
    with EmulatorProcess(tmp_path, args=["--alias", "x/y=tinkex/micro-lm"]) as proc:
        models = requests.get(proc.base_url + "/api/v1/get_server_capabilities",
                              headers={"X-API-Key": "tml-k"}, timeout=10).json()
    assert "x/y" in [m["model_name"] for m in models["supported_models"]]
