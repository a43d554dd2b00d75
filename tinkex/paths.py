"""``tinker://`` paths: ``tinker://<training_run_id>/<kind>/<name>``.

The run id may itself contain colons (``<session>:train:0``); the kind is one of
``weights`` (training checkpoint with optimizer state), ``sampler_weights`` and
``external_weights``. The REST checkpoint id is ``<kind>/<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEME = "tinker://"
KINDS = ("weights", "sampler_weights", "external_weights")
CHECKPOINT_TYPES = {"weights": "training", "sampler_weights": "sampler",
                    "external_weights": "external"}


class TinkerPathError(ValueError):
    """A string that is not a valid ``tinker://`` checkpoint path; the message says why."""


@dataclass(frozen=True)
class TinkerPath:
    """A parsed checkpoint path."""

    training_run_id: str
    kind: str
    name: str

    @classmethod
    def parse(cls, path: str) -> TinkerPath:
        if not isinstance(path, str):
            raise TinkerPathError(f"a tinker path must be a string, got {type(path).__name__}")
        if not path.startswith(SCHEME):
            raise TinkerPathError(f"{path!r} is not a tinker path: it must start with {SCHEME!r}")
        parts = path[len(SCHEME):].split("/")
        if len(parts) != 3:
            raise TinkerPathError(
                f"{path!r} is not a tinker path: expected tinker://<run id>/<kind>/<name> "
                f"(3 parts after the scheme, got {len(parts)})")
        run_id, kind, name = parts
        if not run_id:
            raise TinkerPathError(f"{path!r} has an empty training run id")
        if kind not in KINDS:
            raise TinkerPathError(f"{path!r} has unknown checkpoint kind {kind!r} "
                                  f"(expected one of {', '.join(KINDS)})")
        if not name:
            raise TinkerPathError(f"{path!r} has an empty checkpoint name")
        return cls(run_id, kind, name)

    @property
    def checkpoint_id(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def checkpoint_type(self) -> str:
        return CHECKPOINT_TYPES[self.kind]

    def __str__(self) -> str:
        return f"{SCHEME}{self.training_run_id}/{self.kind}/{self.name}"
