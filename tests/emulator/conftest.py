"""Fixtures for emulator tests: in-process emulators and clients for them.

The emulator runs in a thread of the test process (``Emulator.start``), which is
fast and lets tests pick flags per test; the subprocess path is covered by the
CLI tests. Every test is checked for leftover emulator threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Client, StartEmulator

from tinkex.emulator import Emulator, EmulatorConfig, FaultConfig


def assert_stopped(emulator: Emulator) -> None:
    """A stopped emulator leaves no thread behind."""
    leftover = [t.name for t in threading.enumerate()
                if t.name.startswith(emulator.thread_prefix + "-")]
    assert not leftover, f"threads left running: {leftover}"


@pytest.fixture
def start_emulator(tmp_path: Path) -> Iterator[StartEmulator]:
    """Start in-process emulators with the given settings; all are stopped after the test."""
    running: list[Emulator] = []

    def start(data_dir: Path | None = None, faults: FaultConfig | None = None,
              **settings: Any) -> Emulator:
        settings.setdefault("poll_hold", 5.0)
        config = EmulatorConfig(data_dir=data_dir or tmp_path / f"emu{len(running)}",
                                faults=faults or FaultConfig(), **settings)
        emulator = Emulator(config)
        emulator.start()
        running.append(emulator)
        return emulator

    yield start
    for emulator in running:
        emulator.stop()
        assert_stopped(emulator)


@pytest.fixture(scope="module")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One default emulator for the tests of a module that need no special flags."""
    config = EmulatorConfig(data_dir=tmp_path_factory.mktemp("emu"), poll_hold=5.0,
                            aliases={"Qwen/Qwen3-8B": "tinkex/micro-lm"})
    with Emulator(config) as emulator:
        yield emulator
    assert_stopped(emulator)


@pytest.fixture
def client(shared_emulator: Emulator) -> Client:
    return Client(shared_emulator.base_url)

