"""Fixtures for the CLI tests: one emulator per test module, a CliRunner bound to it.

Tests that count things use their own API key (``cli_helpers.new_key``): the
emulator keeps tenants apart, so the tests of a module share one server without
seeing each other's data.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from cli_helpers import Invoke, Seeded, new_key, seed
from click.testing import CliRunner, Result

from tinkex.cli import cli
from tinkex.emulator.run.process import EmulatorProcess


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running emulator shared by the tests of one module; yields its base URL."""
    with EmulatorProcess(tmp_path_factory.mktemp("cli-emulator")) as proc:
        yield proc.base_url


@pytest.fixture
def invoke(emulator: str) -> Invoke:
    """Run ``tinkex ARGS`` in-process against the module's emulator.

    ``api_key`` picks the tenant (``None`` unsets TINKER_API_KEY); ``input``
    feeds stdin. stdout and stderr are kept apart on the result.
    """

    def run(*args: str, api_key: str | None = "tml-cli-default", input: str | None = None,
            base_url: str | None = emulator) -> Result:
        env = {"TINKER_BASE_URL": base_url, "TINKER_API_KEY": api_key}
        return CliRunner().invoke(cli, list(args), input=input, env=env,
                                  catch_exceptions=False)

    return run


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def seeded(emulator: str) -> Seeded:
    """A fresh tenant with one run, one training and one sampler checkpoint."""
    return seed(emulator, new_key())
