"""pytest plugin: a ``tinkex_emulator`` fixture that runs a local Tinker emulator.

Installed with tinkex (entry point ``pytest11``), so any project can test its own
training scripts offline::

    def test_my_training_script(tinkex_emulator):
        client = tinkex.ServiceClient(base_url=tinkex_emulator, api_key="tml-test")
        ...
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .process import EmulatorProcess


@pytest.fixture
def tinkex_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start an emulator on a free loopback port with a fresh data dir; yield its base URL."""
    data_dir = tmp_path_factory.mktemp("tinkex-emulator")
    with EmulatorProcess(data_dir=data_dir) as proc:
        yield proc.base_url
