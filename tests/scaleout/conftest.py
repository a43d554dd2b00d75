"""Scale-out: sampling clients in process-pool and Ray workers against one local emulator.

The process-pool tests run in ``make test``. Ray's start-up takes seconds, so the
tests marked ``ray`` run only when asked for (``make ray``, i.e. ``pytest -m ray``)
and skip with the reason otherwise, or when Ray is not installed.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from scaleout_helpers import wait_until

import tinkex
from tinkex import _worker_context as worker_context
from tinkex.emulator.run.process import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
HERE = Path(__file__).resolve().parent
KEY = "tml-scaleout-key"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "ray" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="starts a local Ray cluster: run with `make ray` "
                                   "(pytest -m ray)")
    for item in items:
        if item.get_closest_marker("ray") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def no_thread_or_context_left() -> Iterator[None]:
    """Every test leaves the threads it found, and no shared worker context behind."""
    before = set(threading.enumerate())
    yield
    try:
        wait_until(lambda: set(threading.enumerate()) <= before, "threads to stop", 10)
    except AssertionError:
        left = [t.name for t in set(threading.enumerate()) - before]
        raise AssertionError(f"threads left running after the test: {left}") from None
    assert worker_context.shared_contexts() == []


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmulatorProcess(tmp_path_factory.mktemp("scaleout-emulator")) as emulator:
        yield emulator.base_url


@pytest.fixture
def service(base_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tinkex.ServiceClient]:
    # The example's trainer reads these, as a user's script would.
    monkeypatch.setenv("TINKER_BASE_URL", base_url)
    monkeypatch.setenv("TINKER_API_KEY", KEY)
    with tinkex.ServiceClient(base_url=base_url, api_key=KEY) as client:
        yield client


@pytest.fixture
def sampler(service: tinkex.ServiceClient) -> tinkex.SamplingClient:
    return service.create_sampling_client(base_model="tinkex/micro-lm")


@pytest.fixture
def example(service: tinkex.ServiceClient, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """examples/rl_rollouts_ray.py as a module that spawn workers can import too."""
    monkeypatch.syspath_prepend(str(EXAMPLES))  # spawn workers start with this sys.path
    module = importlib.import_module("rl_rollouts_ray")
    monkeypatch.setattr(module, "BASE_MODEL", "tinkex/micro-lm")
    return module


@pytest.fixture
def worker_pythonpath() -> str:
    """What a Ray worker (which does not inherit sys.path) needs to import the test's code."""
    return os.pathsep.join([str(EXAMPLES), str(HERE)])
