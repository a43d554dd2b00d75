"""The tinker-cookbook's supervised and RL loops, unchanged, with the official SDK and with tinkex.

tinker-cookbook 0.6.1 is installed once into ``.cache/conformance/cookbook-0.6.1``
with ``--no-deps`` (its ``tml-renderers`` requirement is not published; the
loops run here do not use it), beside its other requirements, the official SDK
0.38.0 and a CPU build of torch. Each loop runs twice against a fresh emulator
started with ``--sample-seed`` (so unseeded samples are reproducible): once with
the official ``tinker`` and once with tinkex standing in for it
(``cookbook_flow.py`` aliases the module). Their per-step metrics must agree.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tinkex.emulator.run.process import EmulatorProcess

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = REPO / ".cache" / "conformance"
VENV = CACHE / "cookbook-0.6.1"
INSTALL_TIMEOUT = 1800
MODEL_ALIAS = "Qwen/Qwen3-8B=tinkex/micro-lm"

REQUIREMENTS = [
    "tinker==0.38.0", "torch==2.13.0", "aiohttp>=3.9.0", "anyio>=4.0.0", "blobfile>=3.0.0",
    "chz>=0.4.0", "cloudpickle>=3.0.0", "datasets>=2.14.0", "huggingface-hub>=0.20.0",
    "numpy>=1.24.0", "pillow>=10.0.0", "pydantic>=2.0.0", "pyrage>=1.4.0", "rich>=13.0.0",
    "safetensors>=0.4.0", "termcolor>=2.0.0", "tiktoken>=0.12.0", "tqdm>=4.60.0",
    "transformers!=5.3.0,!=5.4.*,!=5.5.0,!=5.5.1,!=5.5.2,!=5.5.3,!=5.6.*,>=4.57.6",
]
"""tinker-cookbook 0.6.1's requirements but tml-renderers, and the official SDK it is for."""

TINKEX_RUNTIME = ["requests>=2.31", "urllib3>=2", "pydantic>=2.7", "jsonschema>=4.18",
                  "protobuf>=7.35.1", "zstandard>=0.22", "click>=8.1", "tqdm>=4.66"]
"""What tinkex needs at run time (it is imported from the checkout, not installed)."""

CHECK = ("import tinker, tinker_cookbook, torch, google.protobuf, zstandard, requests; "
         "import sys; sys.exit(tinker.__version__ != '0.38.0')")


def _ready(python: Path) -> bool:
    return python.exists() and subprocess.run([str(python), "-c", CHECK], capture_output=True,
                                              timeout=300).returncode == 0


@functools.lru_cache(maxsize=1)
def cookbook_python() -> Path:
    """The venv's interpreter (built once, then reused while it imports the right packages)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    python = VENV / "bin" / "python"
    with open(CACHE / "cookbook-0.6.1.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _ready(python):
            return python
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        for args in (REQUIREMENTS + TINKEX_RUNTIME, ["--no-deps", "tinker-cookbook==0.6.1"]):
            run = subprocess.run(pip + args, capture_output=True, text=True,
                                 timeout=INSTALL_TIMEOUT)
            if run.returncode != 0:
                shutil.rmtree(VENV, ignore_errors=True)
                pytest.fail(f"could not install the cookbook's venv:\n{run.stderr[-3000:]}")
        if not _ready(python):
            shutil.rmtree(VENV, ignore_errors=True)
            pytest.fail("the cookbook's venv does not import tinker_cookbook")
        return python


def run_loops(sdk: str, tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    """Both loops in one process (the cookbook's imports take a while), on a fresh emulator."""
    python = cookbook_python()
    out = tmp_path / sdk
    args = ["--log-level", "info", "--sample-seed", "7", "--alias", MODEL_ALIAS]
    with EmulatorProcess(tmp_path / f"data-{sdk}", args=args) as emulator:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TINKER_")}
        env.update(TINKER_BASE_URL=emulator.base_url, TINKER_API_KEY="tml-cookbook",
                   HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   PYTHONPATH=os.pathsep.join([str(HERE), str(REPO)]), WANDB_MODE="disabled",
                   PYTHONUNBUFFERED="1")
        run = subprocess.run([str(python), str(HERE / "cookbook_flow.py"), "sl,rl", sdk,
                              str(out)], env=env, capture_output=True, text=True, timeout=900,
                             cwd=tmp_path)
    assert run.returncode == 0, f"stdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-6000:]}"
    assert f"SDK {sdk} " in run.stdout
    metrics = {}
    for line in run.stdout.splitlines():
        if line.startswith("METRICS "):
            mode, rows = line[len("METRICS "):].split(" ", 1)
            metrics[mode] = [row for row in json.loads(rows) if "step" in row]
    return metrics


@pytest.fixture(scope="module")
def loops(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[Any]]]:
    """Per SDK, per loop, the per-step metrics."""
    return {sdk: run_loops(sdk, tmp_path_factory.mktemp(sdk)) for sdk in ("tinker", "tinkex")}


def _agree(official: list[dict[str, Any]], ours: list[dict[str, Any]],
           keys: tuple[str, ...]) -> None:
    assert len(official) == len(ours) > 0
    for step, (a, b) in enumerate(zip(official, ours, strict=True)):
        for key in keys:
            if key in a or key in b:
                assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), (step, key)


@pytest.mark.conformance
@pytest.mark.timeout(INSTALL_TIMEOUT + 900)
def test_supervised_loop_agrees(loops: dict[str, dict[str, list[Any]]]) -> None:
    official, ours = loops["tinker"]["sl"], loops["tinkex"]["sl"]
    _agree(official, ours, ("train_mean_nll", "grad_norm:mean", "update_norm:mean",
                            "num_loss_tokens"))
    nll = [row["train_mean_nll"] for row in ours]
    assert len(nll) >= 3 and all(v > 0 for v in nll)


@pytest.mark.conformance
@pytest.mark.timeout(INSTALL_TIMEOUT + 900)
def test_rl_loop_agrees(loops: dict[str, dict[str, list[Any]]]) -> None:
    official, ours = loops["tinker"]["rl"], loops["tinkex"]["rl"]
    _agree(official, ours, ("env/all/reward/total", "optim/entropy", "grad_norm:mean",
                            "optim/kl_sample_train_v1", "update_norm:mean"))
    trained = [row for row in ours if row.get("grad_norm:mean")]
    assert trained, "no step had a gradient: the rewards never differed within a group"
