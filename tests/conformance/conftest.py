"""Conformance tests: the official SDK and schemathesis against a running emulator."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "conformance: slower tests against external clients (deselect with "
                   "-m 'not conformance')")
