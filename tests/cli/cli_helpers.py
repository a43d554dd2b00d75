"""Helpers for the CLI tests: seeding checkpoints through the Python API, checking errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from click.testing import Result

import tinkex

Invoke = Callable[..., Result]
"""The ``invoke`` fixture: ``invoke(*args, api_key=..., input=..., base_url=...)``."""


def new_key() -> str:
    """A fresh API key, i.e. a fresh tenant on the shared emulator."""
    return f"tml-cli-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Seeded:
    """What :func:`seed` created: one training run in one session, under ``api_key``."""

    api_key: str
    session_id: str
    run_id: str
    training_paths: tuple[str, ...]
    sampler_paths: tuple[str, ...]


def seed(base_url: str, api_key: str, training: Sequence[str] = ("state-1",),
         sampler: Sequence[str] = ("sampler-1",)) -> Seeded:
    """Create a LoRA run and save the named training and sampler checkpoints."""
    with tinkex.ServiceClient(base_url=base_url, api_key=api_key) as service:
        client = service.create_lora_training_client(base_model="tinkex/tiny-lm", rank=4)
        states = [client.save_state(name) for name in training]
        samplers = [client.save_weights_for_sampler(name) for name in sampler]
        return Seeded(api_key=api_key, session_id=service.session_id, run_id=client.model_id,
                      training_paths=tuple(str(f.result().path) for f in states),
                      sampler_paths=tuple(str(f.result().path) for f in samplers))


def assert_one_error_line(result: Result, *fragments: str, exit_code: int = 1) -> str:
    """The command failed with exactly one ``Error: ...`` line on stderr and no traceback."""
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
