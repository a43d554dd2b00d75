"""The installed ``tinkex`` console script, one real process per command group."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from cli_helpers import Seeded

from tinkex.emulator.run.process import _LISTENING

SCRIPT = Path(sys.executable).with_name("tinkex")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tinkex.cli"]


def tinkex(*args: str, base_url: str | None = None, api_key: str = "tml-cli-subprocess"
           ) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TINKER_API_KEY=api_key)
    if base_url is not None:
        env["TINKER_BASE_URL"] = base_url
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, env=env, timeout=60)


def test_version():
    result = tinkex("version", "--json")
    assert result.returncode == 0, result.stderr
    assert "tinkex" in json.loads(result.stdout)


def test_checkpoint(emulator: str, seeded: Seeded):
    listed = tinkex("checkpoint", "list", "--format", "json", base_url=emulator,
                    api_key=seeded.api_key)
    assert listed.returncode == 0, listed.stderr
    paths = {c["tinker_path"] for c in json.loads(listed.stdout)["checkpoints"]}
    assert paths == {*seeded.training_paths, *seeded.sampler_paths}
    missing = tinkex("checkpoint", "info", seeded.training_paths[0] + "-gone",
                     base_url=emulator, api_key=seeded.api_key)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and missing.stderr.startswith("Error: ")


def test_run(emulator: str, seeded: Seeded):
    result = tinkex("run", "info", seeded.run_id, "--format", "json", base_url=emulator,
                    api_key=seeded.api_key)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["training_run_id"] == seeded.run_id


def test_session(emulator: str, seeded: Seeded):
    result = tinkex("session", "list", "--format", "json", base_url=emulator,
                    api_key=seeded.api_key)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sessions"] == [seeded.session_id]


def test_sample(emulator: str):
    args = ("sample", "--base-model", "tinkex/tiny-lm", "--prompt", "hi", "--max-tokens", "8",
            "--seed", "5", "--json")
    first, second = tinkex(*args, base_url=emulator), tinkex(*args, base_url=emulator)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == json.loads(second.stdout)


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)


def test_emulator_serve_until_ctrl_c(tmp_path: Path):
    proc = subprocess.Popen([*COMMAND, "emulator", "serve", "--data-dir", str(tmp_path),
                             "--fault-seed", "3", "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + 30
        base_url = None
        while base_url is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"the emulator did not announce itself: {proc.communicate()[1]}")
            try:
                match = _LISTENING.search(lines.get(timeout=min(remaining, 0.5)))
            except queue.Empty:
                continue
            base_url = match.group(1) if match else None
        with urllib.request.urlopen(f"{base_url}/api/v1/healthz", timeout=10) as response:
            assert json.load(response) == {"status": "ok"}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert any(tmp_path.iterdir())  # the state went to --data-dir
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
