"""The official ``tinker`` SDK, unchanged, trains and samples against the emulator: a release matrix.

Each SDK version gets its own virtualenv under ``.cache/conformance/`` (created
on first use with ``pip install tinker==VERSION``, reused while it imports the
right version; a file lock keeps parallel runs from building it twice). The
flow itself is ``official_sdk_flow.py`` (``official_sdk_flow_038.py`` in 0.38's
idiom), run by that venv's interpreter against an emulator subprocess. The
releases are listed in ``releases.py``: ``make test`` runs 0.16.1 (the newest
that omits ``type`` fields and unset defaults) and 0.24.1 (the newest all-JSON
SDK); ``make conformance`` runs them all (marker ``release_matrix``) and its
summary says how many pass.
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
from typing import Any

import pytest
from releases import CPU_TORCH, FAST, NEEDS_TORCH, PRE_SESSION, RELEASES

from tinkex.emulator.run.process import EmulatorProcess

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "conformance"
FLOW = Path(__file__).with_name("official_sdk_flow.py")
FLOW_038 = Path(__file__).with_name("official_sdk_flow_038.py")
INSTALL_TIMEOUT = 900


def _imports(python: Path, version: str) -> bool:
    # The distribution's version: some early releases (0.2.2) report a placeholder
    # ``tinker.__version__``.
    check = ("import sys, importlib.metadata as m, tinker; "
             f"sys.exit(m.version('tinker') != {version!r})")
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

        def pip_install(*specs: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 *specs], capture_output=True, text=True, timeout=INSTALL_TIMEOUT)

        # Releases that import torch get the CPU build where the machine has it (a
        # fraction of the CUDA build's size); elsewhere pip picks torch itself.
        install = pip_install(f"tinker=={version}", CPU_TORCH) if version in NEEDS_TORCH \
            else None
        if install is None or install.returncode != 0:
            install = pip_install(f"tinker=={version}")
        if install.returncode != 0 or not _imports(python, version):
            shutil.rmtree(venv, ignore_errors=True)
            pytest.fail(f"could not install tinker=={version}:\n{install.stderr[-3000:]}")
        _install_extras(python, extras)
        return python


def _matrix(versions: tuple[str, ...]) -> list[Any]:
    """Each release as a test; all but the fast few only under ``-m release_matrix``."""
    return [pytest.param(v, id=v, marks=() if v in FAST else pytest.mark.release_matrix)
            for v in versions]


def _sdk_env(base_url: str, hf_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TINKER_", "HF_", "HUGGINGFACE_"))}
    env.update(TINKER_BASE_URL=base_url, TINKER_API_KEY="tml-conformance", HF_HUB_OFFLINE="1",
               HF_HOME=str(hf_home), PYTHONUNBUFFERED="1")
    return env


@pytest.mark.conformance
@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
@pytest.mark.parametrize("version", _matrix(RELEASES))
def test_official_release_trains_saves_samples_and_lists(version: str, tmp_path: Path) -> None:
    """The SFT flow, unchanged, with each official release against one fresh emulator."""
    python = official_sdk_python(version)
    flow = FLOW_038 if version == "0.38.0" else FLOW
    hf_home = tmp_path / "hf"
    with EmulatorProcess(tmp_path / "data", args=["--log-level", "info"],
                         env={"HF_HOME": str(hf_home)}) as emulator:
        run = subprocess.run([str(python), str(flow)], env=_sdk_env(emulator.base_url, hf_home),
                             capture_output=True, text=True, timeout=300, cwd=tmp_path)
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


@pytest.mark.conformance
@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
@pytest.mark.parametrize("version", [pytest.param(v, id=v, marks=pytest.mark.release_matrix)
                                     for v in PRE_SESSION])
def test_pre_session_release_gets_a_clear_error(version: str, tmp_path: Path) -> None:
    """SDK 0.1 - 0.2 (no server sessions) are refused with a message that says why."""
    python = official_sdk_python(version)
    with EmulatorProcess(tmp_path / "data", args=["--log-level", "info"],
                         env={"HF_HOME": str(tmp_path / "hf")}) as emulator:
        run = subprocess.run([str(python), str(FLOW)],
                             env=_sdk_env(emulator.base_url, tmp_path / "hf"),
                             capture_output=True, text=True, timeout=300, cwd=tmp_path)
    log = "".join(emulator.output)
    assert run.returncode != 0, run.stdout
    assert "predates server sessions" in run.stderr and "tinker >= 0.3" in run.stderr, \
        run.stderr[-3000:]
    assert '"POST /api/v1/create_model HTTP/1.1" 400' in log
    assert " 422" not in log and not re.search(r'HTTP/1\.1" 5\d\d', log)
