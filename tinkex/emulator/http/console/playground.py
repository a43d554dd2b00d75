"""The playground: sample a checkpoint (or a base model) with chosen parameters.

The form is a GET: sampling changes nothing, so a result page is a link that
can be reloaded or shared (with a seed it gives the same text again). The
query takes the official console's form, ``?mode=checkpoint&checkpoint=tinker://...``,
plus the prompt and sampling parameters. Sampling runs on the emulator's
compute pool like any ``asample``, under the same access rules: the caller's
own checkpoints and public ones.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tinkex.emulator.compute.model import sample
from tinkex.emulator.errors import HTTPProblem
from tinkex.emulator.state.store import Sampler
from tinkex.tokenizers import ByteTokenizer

from ..services import Services

MAX_TOKENS = 512
MAX_SAMPLES = 8
WAIT = 120.0
_BYTES = ByteTokenizer()


@dataclass
class Query:
    """The playground form: its values as typed, and what is wrong with them."""

    mode: str = "checkpoint"
    checkpoint: str = ""
    base_model: str = ""
    prompt: str = ""
    max_tokens: str = "64"
    temperature: str = "0.7"
    top_p: str = "1"
    top_k: str = "-1"
    seed: str = ""
    num_samples: str = "1"
    stop: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, params: Mapping[str, str]) -> Query:
        query = cls()
        for name in ("mode", "checkpoint", "base_model", "prompt", "max_tokens", "temperature",
                     "top_p", "top_k", "seed", "num_samples", "stop"):
            if name in params:
                setattr(query, name, params[name])
        if query.mode not in ("checkpoint", "base"):
            query.mode = "checkpoint"
        return query

    @property
    def submitted(self) -> bool:
        return bool(self.prompt)

    def _number(self, name: str, kind: type, lo: float, hi: float) -> Any:
        text = getattr(self, name).strip()
        try:
            value = kind(text)
        except ValueError:
            self.errors[name] = f"{name} must be a number"
            return None
        if not lo <= value <= hi:
            self.errors[name] = f"{name} must be between {lo} and {hi}"
            return None
        return value

    def sampling_args(self) -> dict[str, Any] | None:
        """The keyword arguments of :func:`~tinkex.emulator.compute.model.sample`, or None (see errors)."""
        args = {"max_tokens": self._number("max_tokens", int, 1, MAX_TOKENS),
                "temperature": self._number("temperature", float, 0.0, 2.0),
                "top_p": self._number("top_p", float, 0.0, 1.0),
                "top_k": self._number("top_k", int, -1, 1_000_000),
                "num_samples": self._number("num_samples", int, 1, MAX_SAMPLES),
                "seed": self._number("seed", int, 0, 2**63 - 1) if self.seed.strip() else None,
                "stop": [self.stop] if self.stop else None}
        if args["top_p"] == 0.0:
            self.errors["top_p"] = "top_p must be above 0"
        if args["top_k"] == 0:
            self.errors["top_k"] = "top_k must be -1 (off) or at least 1"
        return None if self.errors else args


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int
    stop_reason: str


def _sampler(s: Services, owner: str, query: Query) -> Sampler:
    if query.mode == "base":
        s.catalog.preset(query.base_model)
        return Sampler(f"base:{query.base_model}", owner, "", query.base_model, None, None)
    checkpoint = s.checkpoint_at(owner, query.checkpoint)
    run = s.store.run(checkpoint.run_id)
    assert run is not None
    return Sampler(f"path:{query.checkpoint}", owner, "", run.base_model, query.checkpoint,
                   checkpoint.storage_key)


async def run(s: Services, owner: str, query: Query) -> tuple[list[Completion], float]:
    """Sample as the form says; the completions and the seconds it took.

    Bad input is recorded in ``query.errors`` (and nothing is sampled).
    """
    args = query.sampling_args()
    try:
        sampler = _sampler(s, owner, query)
    except HTTPProblem as e:
        query.errors["checkpoint" if query.mode == "checkpoint" else "base_model"] = str(e.detail)
        return [], 0.0
    if args is None:
        return [], 0.0
    prompt = _BYTES.encode(query.prompt, add_special_tokens=True)
    room = s.catalog.max_context(sampler.base_model) - len(prompt)
    if room < 1:
        query.errors["prompt"] = "the prompt fills the model's whole context"
        return [], 0.0
    args["max_tokens"] = min(args["max_tokens"], room)

    def work() -> list[Completion]:
        config, weights = s.models.sampler_weights(sampler)
        result = sample(config, weights, prompt, **args)
        return [Completion(_BYTES.decode(q.tokens, skip_special_tokens=True), len(q.tokens), q.stop_reason)
                for q in result.sequences]

    started = time.monotonic()
    record = s.submit(owner, "Sample", work)
    if not await s.futures.wait(record, WAIT):
        query.errors["prompt"] = "sampling took too long; try fewer tokens"
        return [], time.monotonic() - started
    if record.state == "failed":
        query.errors["prompt"] = record.error or "sampling failed"
        return [], time.monotonic() - started
    completions: list[Completion] = record.result
    return completions, time.monotonic() - started
