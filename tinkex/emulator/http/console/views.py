"""What each console page shows, gathered with the API's own access rules.

The console sees what the caller's key sees through the REST API: their own
runs, sessions and checkpoints, plus runs with a public checkpoint (of those,
only the public checkpoints). Anything else is a 404, exactly as for the API.
Runs and checkpoints are the REST API's own wire objects, so the pages show
what ``list_training_runs`` and ``list_checkpoints`` answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinkex import types as T
from tinkex.emulator.errors import not_found
from tinkex.emulator.state.history import Sample, Step
from tinkex.emulator.state.store import Run, Sampler, Session
from tinkex.paths import TinkerPath, TinkerPathError

from ..handlers.rest import wire_checkpoint, wire_run
from ..services import Services
from .charts import Plot, layout, run_charts


@dataclass(frozen=True)
class RunRow:
    run: T.TrainingRun
    created_at: float
    last_step: int | None
    status: str
    own: bool


@dataclass(frozen=True)
class SamplerView:
    sampler: Sampler
    samples: list[Sample]


@dataclass(frozen=True)
class RunPage:
    row: RunRow
    lora: dict[str, object]
    session: Session | None
    checkpoints: list[T.Checkpoint]
    samplers: list[SamplerView]
    steps: list[Step]
    plots: list[Plot]


@dataclass(frozen=True)
class SessionRow:
    session: Session
    runs: int
    samplers: int


@dataclass(frozen=True)
class SessionPage:
    session: Session
    runs: list[RunRow]
    samplers: list[SamplerView]


def status_of(session: Session | None) -> str:
    if session is None:
        return "unknown"
    return "active" if session.finished_reason is None else session.finished_reason


def _rows(s: Services, owner: str, runs: list[Run]) -> list[RunRow]:
    steps = s.history.last_steps([r.run_id for r in runs])
    sessions = {r.session_id: s.store.session(r.session_id) for r in runs}
    return [RunRow(wire_run(s, r), r.created_at, steps.get(r.run_id),
                   status_of(sessions[r.session_id]), r.owner == owner) for r in runs]


def run_rows(s: Services, owner: str, offset: int, limit: int) -> tuple[list[RunRow], int]:
    """One page of the runs the caller can see (their own and published ones), newest first."""
    s.purge_expired()
    runs, total = s.store.runs(owner, True, offset, limit)
    return _rows(s, owner, runs), total


def visible_run(s: Services, owner: str, run_id: str) -> Run:
    run = s.store.run_visible(run_id, owner, accessible=True)
    if run is None:
        raise not_found("training run", run_id)
    return run


def checkpoints_of(s: Services, owner: str, run: Run) -> list[T.Checkpoint]:
    """The run's live checkpoints as ``list_checkpoints`` answers (others see public ones)."""
    checkpoints, _ = s.store.checkpoints(run.run_id, None)
    return [wire_checkpoint(c) for c in checkpoints if run.owner == owner or c.public]


def _samplers(s: Services, samplers: list[Sampler], samples: int) -> list[SamplerView]:
    return [SamplerView(x, s.history.samples(x.sampler_id, samples)) for x in samplers]


def run_page(s: Services, owner: str, run_id: str, chart_width: int = 480) -> RunPage:
    s.purge_expired()
    run = visible_run(s, owner, run_id)
    own = run.owner == owner
    steps = s.history.steps(run.run_id)
    samplers = s.store.samplers(source_run_id=run.run_id) if own else []
    return RunPage(row=_rows(s, owner, [run])[0], lora=dict(run.lora),
                   session=s.store.session(run.session_id) if own else None,
                   checkpoints=checkpoints_of(s, owner, run),
                   samplers=_samplers(s, samplers, 3), steps=steps,
                   plots=[layout(c, chart_width * (2 if i == 0 else 1), 250)
                          for i, c in enumerate(run_charts(steps))])


def session_rows(s: Services, owner: str, offset: int,
                 limit: int) -> tuple[list[SessionRow], int]:
    sessions, total = s.store.session_rows(owner, offset, limit)
    rows = []
    for session in sessions:
        runs, samplers = s.store.session_children(session.session_id)
        rows.append(SessionRow(session, len(runs), len(samplers)))
    return rows, total


def session_page(s: Services, owner: str, session_id: str) -> SessionPage:
    session = s.session(owner, session_id, active=False)
    run_ids, _ = s.store.session_children(session_id)
    runs = [r for r in (s.store.run(i) for i in run_ids) if r is not None]
    return SessionPage(session, _rows(s, owner, runs),
                       _samplers(s, s.store.samplers(session_id=session_id), 10))


def checkpoint_of(s: Services, owner: str, run_id: str,
                  checkpoint_id: str) -> tuple[T.Checkpoint, Run]:
    """A checkpoint by its REST id (``kind/name``), if the caller owns it or it is public."""
    try:
        path = TinkerPath.parse(f"tinker://{run_id}/{checkpoint_id}")
    except TinkerPathError:
        raise not_found("checkpoint", f"tinker://{run_id}/{checkpoint_id}") from None
    checkpoint = s.checkpoint(owner, path.training_run_id, path.kind, path.name,
                              public_ok=True)
    run = s.store.run(run_id)
    assert run is not None
    return wire_checkpoint(checkpoint), run


def sampleable(s: Services, owner: str) -> list[T.Checkpoint]:
    """Sampler checkpoints the caller may sample: their own, newest first."""
    s.purge_expired()
    checkpoints, _ = s.store.checkpoints(None, owner, 0, 200)
    return [wire_checkpoint(c) for c in checkpoints if c.kind == "sampler_weights"]
