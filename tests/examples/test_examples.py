"""Every script in ``examples/`` runs against a local emulator, exits 0 and prints its key line.

One emulator serves the whole module (scripts share it; each makes its own
session); the queue-state example gets its own emulator that parks every future.
``test_mypy_strict`` type-checks the examples against the package's annotations
and stubs, the way a user's strictly typed project would see them.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tinkex.emulator.run.process import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
API_KEY = "tml-examples-test"
RUN_TIMEOUT = 120

# script -> a line (regex) its output must contain
KEY_LINES = {
    "sampling_basic.py": r"^sampled 3 sequences$",
    "training_loop.py": r"^loss fell from \d+\.\d+ to \d+\.\d+$",
    "custom_loss_training.py": r"^custom loss fell from .* to ",
    "forward_inference.py": r"^forward vs compute_logprobs: max difference ",
    "adam_and_chunking.py": r"-> 2 requests of \[1024, 76\] datums",
    "sessions_management.py": r"has 1 training run\(s\) and 1 sampler\(s\)$",
    "checkpoints_management.py": r"^deleted tinker://\S+/weights/step-2; 2 checkpoints left$",
    "checkpoint_download.py": r"^downloaded tinker://\S+/sampler_weights/download-me$",
    "weights_inspection.py": r"^  rank matches the expected 8$",
    "save_weights_and_sample.py": r"^both samplers serve the trained weights$",
    "training_persistence.py": r"^session 2 retraced the original client's steps exactly",
    "parallel_client_creation.py": r"^futures: 4 sampling \+ 2 training clients in ",
    "multiprocessing_sampling.py": r"^sampled 4 prompts in \d+ worker process\(es\)",
    "capabilities_and_logprobs.py": r"^total prompt logprob -?\d+\.\d+ over \d+ scored tokens$",
    "official_style.py": r"^Official-style run finished: loss .* 1 checkpoint\(s\)$",
    "client_metrics.py": r"^8 samples submitted; \d+ calls in all",
    "circuit_breaker.py": r"^8 calls: 8 ok, 0 failed fast, 0 reached the server and failed$",
    "sample_stream.py": r"^streamed \d+ tokens; the first three again: True$",
    "file_uploads.py": r"^raw body: 3000002 bytes streamed from beach.jpg$",
    "regularized_training.py": r"^3 regularizers over 4 steps; final total \d+\.\d+$",
    "automatic_recovery.py": r"^trained 6 steps with 0 recovery\(ies\)$",
    "tiktoken_tokenizer.py": r"^round trip: True; bos \d+, eos \d+$",
    "opentelemetry_tracing.py": r"^[1-9]\d* of \d+ client spans in trace [0-9a-f]{32}$",
    "raw_responses.py": r"^list_training_runs -> 200, \d+ run\(s\) on the first page$",
    "rl_rollouts_ray.py": r"^process pool x 2: mean reward \d\.\d+ -> \d\.\d+ over 5 iterations$",
}
# Arguments for scripts whose defaults ask more than the fast suite gives (the Ray engine
# runs with `make ray`, in tests/scaleout).
ARGS = {"rl_rollouts_ray.py": ["--engine", "processes", "--workers", "2"]}
QUEUE_STATE_EXAMPLE = "queue_state_observer.py"
# scripts that also run against an emulator of their own with these flags -> their key line there
FAULTY = {
    "automatic_recovery.py": (["--fault-corrupt-after", "3"],
                              r"^trained 6 steps with [1-9]\d* recovery\(ies\)$"),
    "circuit_breaker.py": (["--fault-5xx-rate", "1.0"],
                           r"^8 calls: 0 ok, 3 failed fast, 5 reached the server and failed$"),
}
# `make demo`: it starts its own emulator; test_demo runs it.
NOT_HERE = {"demo.py"}


def example_env(base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TINKER_", "TINKEX_"))}
    env.update(TINKER_BASE_URL=base_url, TINKER_API_KEY=API_KEY, PYTHONUNBUFFERED="1")
    return env


def run_example(name: str, env: dict[str, str], cwd: Path) -> str:
    """Run one script; fail with its output unless it exits 0 cleanly. Returns stdout."""
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *ARGS.get(name, [])],
                          env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    report = f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert proc.returncode == 0, f"{name} exited {proc.returncode}\n{report}"
    # A background thread that died still lets the script exit 0: catch its traceback.
    assert "Traceback" not in proc.stderr, f"{name} printed a traceback\n{report}"
    return proc.stdout


@pytest.fixture(scope="module")
def emulator_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with EmulatorProcess(tmp_path_factory.mktemp("examples-emulator")) as emulator:
        yield example_env(emulator.base_url)


def test_every_example_is_covered() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")} - NOT_HERE
    assert scripts == set(KEY_LINES) | {QUEUE_STATE_EXAMPLE}


def module_doc(tree: ast.Module) -> str | None:
    """The module docstring, or a ``__doc__ = "..."`` assignment (official_style.py must begin
    with its imports, exactly like a script written for ``import tinker``)."""
    doc = ast.get_docstring(tree)
    for node in tree.body:
        if (doc is None and isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__doc__" for t in node.targets)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            doc = node.value.value
    return doc


@pytest.mark.parametrize("name", sorted([*KEY_LINES, QUEUE_STATE_EXAMPLE]))
def test_example_shape(name: str) -> None:
    """A docstring that says how to run it on the emulator, a main(), and the __main__ guard."""
    tree = ast.parse((EXAMPLES / name).read_text(), name)
    doc = module_doc(tree)
    assert doc and "python -m tinkex.emulator" in doc and f"examples/{name}" in doc, name
    assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), name
    guard = tree.body[-1]
    assert isinstance(guard, ast.If) and "__main__" in ast.unparse(guard.test), name


@pytest.mark.parametrize("name", sorted(KEY_LINES))
def test_example(name: str, emulator_env: dict[str, str], tmp_path: Path) -> None:
    stdout = run_example(name, emulator_env, tmp_path)
    assert re.search(KEY_LINES[name], stdout, re.MULTILINE), f"{name}: key line missing\n{stdout}"


def test_queue_state_observer(tmp_path: Path) -> None:
    # Every future waits 2 s in a paused queue; polls answer every 0.5 s meanwhile, with the state.
    args = ["--fault-pause", "paused_rate_limit:2", "--poll-hold", "0.5"]
    with EmulatorProcess(tmp_path / "data", args=args) as emulator:
        stdout = run_example(QUEUE_STATE_EXAMPLE, example_env(emulator.base_url), tmp_path)
    # The sample's future is built on top of its request future: it must hear the states too.
    for label in ("forward_backward", "optim_step", "sample"):
        assert re.search(rf"\[{label}\] queue state: paused_rate_limit \(.+\)", stdout), stdout
    # Whether a poll also sees the queue turn ``active`` after the pause depends on timing.
    observed = re.search(r"^observed queue states: (.+) \(\d+ changes\)$", stdout, re.MULTILINE)
    assert observed, stdout
    states = set(observed.group(1).split(", "))
    assert "paused_rate_limit" in states and states <= {"paused_rate_limit", "active"}, stdout


@pytest.mark.parametrize("name", sorted(FAULTY))
def test_example_against_a_faulty_emulator(name: str, tmp_path: Path) -> None:
    args, key_line = FAULTY[name]
    with EmulatorProcess(tmp_path / "data", args=args) as emulator:
        stdout = run_example(name, example_env(emulator.base_url), tmp_path)
    assert re.search(key_line, stdout, re.MULTILINE), f"{name}: key line missing\n{stdout}"


def test_queue_state_observer_without_pauses(emulator_env: dict[str, str], tmp_path: Path) -> None:
    stdout = run_example(QUEUE_STATE_EXAMPLE, emulator_env, tmp_path)
    assert "no queue state changes observed" in stdout, stdout


def mypy(*targets: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` (no config file) seeing tinkex the way an installed package is seen.

    The repository root goes on the interpreter's path (``PYTHONPATH``) and mypy
    runs from elsewhere, so mypy finds tinkex as an installed PEP 561 package
    (``py.typed``; inline annotations plus its ``.pyi`` stubs) and, as for any
    installed package, reports errors in our code only, not in tinkex's own.
    (The venv's editable install is an import hook, which mypy cannot follow.)
    """
    cmd = [sys.executable, "-m", "mypy", "--strict", "--config-file=",
           "--cache-dir", str(workdir / ".mypy_cache"), *map(str, targets)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)


def test_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    proc = mypy(EXAMPLES, workdir=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Success: no issues found"), proc.stdout

    # The check has teeth: tinkex's types (futures included) really reach the examples.
    probe = tmp_path / "probe.py"
    probe.write_text("import tinkex\n\n\n"
                     "def wrong(client: tinkex.TrainingClient) -> str:\n"
                     "    return client.optim_step().result()\n")
    proc = mypy(probe, workdir=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'got "OptimStepResponse", expected "str"' in proc.stdout, proc.stdout


def test_demo(tmp_path: Path) -> None:
    """`make demo`'s script: its own emulator, a fine-tune whose loss falls below 30%."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TINKER_", "TINKEX_"))}
    proc = subprocess.run([sys.executable, str(EXAMPLES / "demo.py"), "--out", str(tmp_path)],
                          env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ratio = re.search(r"final loss is ([\d.]+)% of the first", proc.stdout)
    assert ratio and float(ratio.group(1)) < 30, proc.stdout
    assert "fox jumps over the lazy dog." in proc.stdout  # the trained model continues it
    # the charts come from the emulator's console, whatever is installed here
    assert (tmp_path / "training_metrics.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert any((tmp_path / "checkpoints").rglob("*.safetensors"))
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"Console: http://127\.0\.0\.1:\d+/console/link/\S+/training_runs/\S+",
                        last), last
    assert (tmp_path / "emulator" / "history.sqlite3").exists()  # browsable later
