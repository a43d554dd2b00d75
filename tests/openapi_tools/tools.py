"""Third-party OpenAPI tools, installed once into ``.cache/openapi-tools/`` at pinned versions.

Spectral and Redocly come from the npm registry (``package.json`` and
``package-lock.json`` beside this file pin every package, ``npm ci`` installs
exactly that); openapi-python-client comes from PyPI into its own virtualenv. A
file lock keeps parallel runs from installing twice; an install is reused while
its marker file names the same pins.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = REPO / ".cache" / "openapi-tools"
INSTALL_TIMEOUT = 900
OPENAPI_PYTHON_CLIENT = "openapi-python-client==0.29.1"

# No telemetry, no update checks: these tools may reach only the package registry, at install.
QUIET_ENV = {
    "REDOCLY_TELEMETRY": "off",
    "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
    "NO_UPDATE_NOTIFIER": "1",
    "NPM_CONFIG_UPDATE_NOTIFIER": "false",
    "NO_COLOR": "1",
    "FORCE_COLOR": "0",
}


def tool_env() -> dict[str, str]:
    return {**os.environ, **QUIET_ENV}


@contextmanager
def _locked(name: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run_install(cmd: list[str], cwd: Path | None = None) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=tool_env(),
                          timeout=INSTALL_TIMEOUT)
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` failed ({done.returncode}):\n"
                    f"{(done.stdout + done.stderr)[-3000:]}")


def npm_bin() -> Path:
    """``node_modules/.bin`` of the pinned linters (skips the test when Node.js is absent)."""
    npm, npx = shutil.which("npm"), shutil.which("npx")
    if not (npm and npx):
        pytest.skip("npx/npm not found: install Node.js >= 20 to lint spec/openapi.json with "
                    "Spectral and Redocly")
    lock = (HERE / "package-lock.json").read_bytes()
    pins = hashlib.sha256((HERE / "package.json").read_bytes() + lock).hexdigest()[:16]
    target = CACHE / f"npm-{pins}"
    marker = target / ".installed"
    with _locked("npm"):
        if not marker.exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(HERE / name, target / name)
            _run_install([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund",
                          "--loglevel=error"], cwd=target)
            marker.write_text(pins, encoding="utf-8")
    return target / "node_modules" / ".bin"


def openapi_python_client() -> Path:
    """The ``openapi-python-client`` command of a cached venv with the pinned version."""
    name = OPENAPI_PYTHON_CLIENT.replace("==", "-")
    venv = CACHE / name
    command = venv / "bin" / "openapi-python-client"
    marker = venv / ".installed"
    with _locked(name):
        if not (marker.exists() and command.exists()):
            shutil.rmtree(venv, ignore_errors=True)
            _run_install([sys.executable, "-m", "venv", str(venv)])
            _run_install([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", OPENAPI_PYTHON_CLIENT])
            marker.write_text(OPENAPI_PYTHON_CLIENT, encoding="utf-8")
    return command
