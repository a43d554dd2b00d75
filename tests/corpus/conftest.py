"""Fixtures and the build-time summary of the OpenAPI corpus (see ``corpus_build.py``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.corpus.corpus_build import CACHE


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if CACHE:
        terminalreporter.write_line("OpenAPI corpus build times (import / check+build / models import):")
        for b in CACHE.values():
            s = b.seconds
            terminalreporter.write_line(f"  {b.name}: {s['import']:.1f}s / {s['build']:.1f}s / "
                                        f"{s['models import']:.1f}s")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The large documents run only when asked for (``make corpus`` sets TINKEX_CORPUS=1)."""
    if os.environ.get("TINKEX_CORPUS") == "1":
        return
    skip = pytest.mark.skip(reason="large OpenAPI document: run with `make corpus`")
    for item in items:
        if item.get_closest_marker("corpus") is not None:
            item.add_marker(skip)
