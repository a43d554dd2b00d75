"""Sampling clients in Ray workers (a local cluster): identical seeded results, a clear error when
a worker dies, and nothing left behind after ``ray.shutdown()``.

Marked ``ray``: run with ``make ray``. Each test starts its own small cluster in
a private temporary directory and checks, after shutdown, that every process it
started (the cluster's and the workers') is gone and no thread is left.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import scaleout_helpers as helpers
from scaleout_helpers import wait_until

import tinkex
from tinkex import types

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'tinkex[ray]'")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

PROMPTS = [[256, *b"Once"], [256, *b"The"], [256, *b"Dear"], [256, *b"In a"]]
ROOT = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Cluster:
    engine: Any
    started: set[int] = field(default_factory=set)
    """Processes the cluster started: all must be gone after shutdown."""


@pytest.fixture
def cluster(example: ModuleType, worker_pythonpath: str) -> Iterator[Cluster]:
    """The example's Ray engine on 4 CPUs, in a private temporary directory."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the leak check reads /proc")
    before = descendants(os.getpid())
    temp = tempfile.mkdtemp(prefix="tkray-", dir="/tmp")  # short: Ray's socket paths are bounded
    engine = example.Ray(4, _temp_dir=temp,
                         runtime_env={"env_vars": {"PYTHONPATH": worker_pythonpath}})
    cluster = Cluster(engine, descendants(os.getpid()) - before)
    assert cluster.started, "none of the cluster's processes found: the leak check would be void"
    try:
        yield cluster
        cluster.started |= descendants(os.getpid()) - before  # the workers, if still up
    finally:
        engine.close()
        shutil.rmtree(temp, ignore_errors=True)
    assert not ray.is_initialized()
    wait_until(lambda: not any(alive(p) for p in cluster.started), "Ray's processes to exit", 60)


def test_fan_out_over_four_ray_workers_matches_in_process(
        cluster: Cluster, example: ModuleType, sampler: tinkex.SamplingClient) -> None:
    jobs = [example.Job(tuple(p), seed=70 + i) for i, p in enumerate(PROMPTS * 2)]
    fanned = cluster.engine.map(example.rollout, sampler, jobs)
    local = example.Threads(4)
    try:
        here = local.map(example.rollout, sampler, jobs)
    finally:
        local.close()
    assert fanned == here  # tokens, logprobs and rewards, exactly
    pids = {r.worker for group in fanned for r in group}
    assert os.getpid() not in pids
    cluster.started.update(pids)


def test_a_ray_worker_killed_mid_rollout_is_a_clear_error_in_the_trainer(
        cluster: Cluster, example: ModuleType) -> None:
    with pytest.raises(example.RolloutWorkerDied, match="died mid-rollout"):
        example.train(cluster.engine, 1, fn=helpers.die_mid_rollout)


def test_a_ray_actor_closes_its_connection_when_it_exits(
        cluster: Cluster, sampler: tinkex.SamplingClient, tmp_path: Path) -> None:
    """A graceful exit runs the exit hooks; ``ray.shutdown()`` kills workers outright, and
    the fixture checks that they are gone."""
    marker = tmp_path / "closed"
    actor = ray.remote(num_cpus=1)(helpers.ReportingActor).remote()
    pid, idle, busy = ray.get(actor.run.remote(pickle.dumps(sampler), str(marker)))
    assert idle == [] and busy  # no thread in the worker before it sampled
    cluster.started.add(pid)
    assert not marker.exists()  # the actor lives on, holding its connection
    actor.__ray_terminate__.remote()
    wait_until(marker.exists, "the actor to close its connection as it exits", 60)
    assert marker.read_text() == f"closed=True pid={pid}"
    wait_until(lambda: not alive(pid), "the actor's process to end")
    helpers.sample_tokens(sampler, PROMPTS[0])  # the creator's session carries on


def test_rollout_objects_travel_through_rays_serializer(
        cluster: Cluster, sampler: tinkex.SamplingClient) -> None:
    params = types.SamplingParams(max_tokens=4, seed=3, stop=["\n"])
    response = sampler.sample(types.ModelInput.from_ints(PROMPTS[1]), 2, params,
                              include_prompt_logprobs=True).result()
    for value in (types.ModelInput.from_ints(PROMPTS[0]), params, response):
        assert ray.get(ray.put(value)) == value
    echo = ray.remote(num_cpus=1)(lambda s: (os.getpid(), helpers.sample_tokens(s, PROMPTS[2])))
    pid, tokens = ray.get(echo.remote(sampler))
    cluster.started.update({pid})
    assert tokens == helpers.sample_tokens(sampler, PROMPTS[2])


def test_the_example_trains_identically_on_ray_and_on_a_process_pool(
        base_url: str, tmp_path: Path) -> None:
    """The whole example on each engine: same rollouts as in-process, same reward curve."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TINKER_", "RAY_"))}
    env.update(TINKER_BASE_URL=base_url, TINKER_API_KEY="tml-scaleout-key",
               TINKER_BASE_MODEL="tinkex/micro-lm", PYTHONUNBUFFERED="1")
    curves = {}
    for engine in ("ray", "processes"):
        with tempfile.TemporaryDirectory(prefix="tkray-", dir="/tmp") as ray_tmp:
            run = subprocess.run([sys.executable, str(ROOT / "examples" / "rl_rollouts_ray.py"),
                                  "--engine", engine, "--iterations", "3"],
                                 env=dict(env, RAY_TMPDIR=ray_tmp), cwd=tmp_path,
                                 capture_output=True, text=True, timeout=240)
        assert run.returncode == 0, f"{engine}:\n{run.stdout}\n{run.stderr[-3000:]}"
        assert "rollouts == in-process rollouts" in run.stdout, run.stdout
        curves[engine] = re.findall(r"mean reward (\d\.\d+) from", run.stdout)
    assert len(curves["ray"]) == 3 and curves["ray"] == curves["processes"], curves
