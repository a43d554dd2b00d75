"""The official ``tinker`` SDK, unchanged, trains and samples against the emulator.

Each SDK version gets its own virtualenv under ``.cache/conformance/`` (created
on first use with ``pip install tinker==VERSION``, reused while it imports the
right version; a file lock keeps parallel runs from building it twice). The
flow itself is ``official_sdk_flow.py``, run by that venv's interpreter against
an emulator subprocess. 0.24.1 is the newest all-JSON SDK; 0.16.1 is the newest
that omits ``type`` fields and unset defaults from its bodies.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tinkex.emulator.process import EmulatorProcess

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "conformance"
FLOW = Path(__file__).with_name("official_sdk_flow.py")
INSTALL_TIMEOUT = 900


def _imports(python: Path, version: str) -> bool:
    check = f"import sys, tinker; sys.exit(tinker.__version__ != {version!r})"
    return python.exists() and subprocess.run(
        [str(python), "-c", check], capture_output=True, timeout=120).returncode == 0


def _install_extras(python: Path, extras: tuple[str, ...]) -> None:
    """Pinned extra packages (``name==version``) the SDK venv lacks, e.g. jinja2 for chat
    templates; checked by distribution version, so a cached venv is only touched once."""
    missing = []
    for spec in extras:
        name, _, wanted = spec.partition("==")
        probe = subprocess.run(
            [str(python), "-c", f"import importlib.metadata as m; print(m.version({name!r}))"],
            capture_output=True, text=True, timeout=120)
        if probe.returncode != 0 or probe.stdout.strip() != wanted:
            missing.append(spec)
    if missing:
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             *missing], capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        if install.returncode != 0:
            pytest.fail(f"could not install {missing}:\n{install.stderr[-3000:]}")


def official_sdk_python(version: str, extras: tuple[str, ...] = ()) -> Path:
    """The interpreter of a venv with ``tinker==version`` installed (built once, then cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    venv = CACHE / f"tinker-{version}"
    python = venv / "bin" / "python"
    with open(CACHE / f"tinker-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _imports(python, version):
            _install_extras(python, extras)
            return python
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             f"tinker=={version}"], capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        if install.returncode != 0 or not _imports(python, version):
            shutil.rmtree(venv, ignore_errors=True)
            pytest.fail(f"could not install tinker=={version}:\n{install.stderr[-3000:]}")
        _install_extras(python, extras)
        return python


@pytest.mark.conformance
@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
@pytest.mark.parametrize("version", ["0.24.1", "0.16.1"])
def test_official_sdk_trains_saves_samples_and_lists(version: str, tmp_path: Path) -> None:
    python = official_sdk_python(version)
    with EmulatorProcess(tmp_path / "data", args=["--log-level", "info"]) as emulator:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TINKER_")}
        env.update(TINKER_BASE_URL=emulator.base_url, TINKER_API_KEY="tml-conformance",
                   HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        run = subprocess.run([str(python), str(FLOW)], env=env, capture_output=True, text=True,
                             timeout=240, cwd=tmp_path)
    log = "".join(emulator.output)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr[-5000:]}"
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, run.stdout
    result = json.loads(lines[-1][len("RESULT "):])
    print(f"tinker {version}: loss:sum {result['first_loss']:.2f} -> {result['last_loss']:.2f}")
    assert result["last_loss"] <= 0.5 * result["first_loss"]
    assert "weights/final" in result["checkpoints"]
    # Every request of the SDK was understood: no 5xx, and no validation failure.
    refused = re.findall(r'"[A-Z]+ (\S+) HTTP/1\.1" (5\d\d|422|400)', log)
    assert not refused, refused
