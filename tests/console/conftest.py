"""Fixtures for the console tests: one emulator per test module, with a short training run."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from console_helpers import Trained, train

from tinkex.emulator import Emulator, EmulatorConfig


@pytest.fixture(scope="module")
def console_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    config = EmulatorConfig(data_dir=tmp_path_factory.mktemp("console-emu"), poll_hold=5.0)
    with Emulator(config) as emulator:
        yield emulator
    leftover = [t.name for t in threading.enumerate()
                if t.name.startswith(emulator.thread_prefix + "-")]
    assert not leftover, f"threads left running: {leftover}"


@pytest.fixture(scope="module")
def trained(console_emulator: Emulator) -> Trained:
    return train(console_emulator.base_url)
