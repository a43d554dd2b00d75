"""Conformance tests: the official SDK and schemathesis against a running emulator."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "conformance: slower tests against external clients (deselect with "
                   "-m 'not conformance')")
    config.addinivalue_line(
        "markers", "release_matrix: every official release (make conformance; not in make test)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line for the release matrix: how many official releases pass."""
    outcome: dict[str, str] = {}
    for status in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(status, []):
            nodeid = getattr(report, "nodeid", "")
            if "test_official_release_trains_saves_samples_and_lists[" not in nodeid:
                continue
            version = nodeid.rsplit("[", 1)[1].rstrip("]")
            if status != "passed" or getattr(report, "when", "call") == "call":
                outcome[version] = status if outcome.get(version) in (None, "passed") else \
                    outcome[version]
    if outcome:
        passed = sorted((v for v, s in outcome.items() if s == "passed"), key=_version_key)
        failed = sorted((v for v, s in outcome.items() if s != "passed"), key=_version_key)
        line = f"release matrix: {len(passed)} of {len(outcome)} releases pass"
        if failed:
            line += f" (not: {', '.join(failed)})"
        terminalreporter.write_line(line)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())
