"""AdamW with global-norm gradient clipping, matching Tinker's ``AdamParams``.

One :meth:`AdamW.step` does, for the accumulated gradients ``g`` of all trainable params:

1. ``grad_norm = sqrt(sum_p ||g_p||^2)``; if ``grad_clip_norm > 0`` and
   ``grad_norm > grad_clip_norm`` every ``g`` is scaled by ``grad_clip_norm / grad_norm``.
2. decoupled weight decay: ``p -= learning_rate * weight_decay * p``.
3. Adam with bias correction (``t`` counts steps from 1)::

       m = beta1 m + (1 - beta1) g        v = beta2 v + (1 - beta2) g^2
       p -= learning_rate * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

Clearing the gradients afterwards is the caller's job (see ``TrainableModel.optim_step``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np


@dataclass(frozen=True)
class AdamParams:
    """Hyper-parameters of one optimizer step (defaults follow Tinker's ``AdamParams``)."""

    learning_rate: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-12
    weight_decay: float = 0.0
    grad_clip_norm: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            ("learning_rate", self.learning_rate >= 0),
            ("beta1", 0 <= self.beta1 < 1),
            ("beta2", 0 <= self.beta2 < 1),
            ("eps", self.eps >= 0),
            ("weight_decay", self.weight_decay >= 0),
            ("grad_clip_norm", self.grad_clip_norm >= 0),
        ]
        for name, ok in checks:
            value = getattr(self, name)
            if not ok or not math.isfinite(value):
                raise ValueError(f"invalid AdamParams.{name}: {value!r}")

    @classmethod
    def from_any(cls, params: AdamParams | Mapping[str, Any] | None) -> AdamParams:
        """Build from a dict (``None`` values mean "default"); unknown keys raise ``ValueError``."""
        if params is None:
            return cls()
        if isinstance(params, AdamParams):
            return params
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown AdamParams field(s): {', '.join(unknown)}")
        kwargs = {}
        for k, v in params.items():
            if v is None:
                continue
            try:
                kwargs[k] = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"AdamParams.{k} must be a number, got {v!r}") from None
        return cls(**kwargs)


class AdamW:
    """Optimizer state (first/second moments and step count) for a dict of parameters."""

    def __init__(self, params: Mapping[str, np.ndarray]) -> None:
        self.step_count = 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(
        self,
        params: dict[str, np.ndarray],
        grads: Mapping[str, np.ndarray],
        hp: AdamParams,
    ) -> dict[str, float]:
        """Update ``params`` in place from ``grads``; return metrics (``name:reduction`` keys)."""
        grad_norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
        clip = 1.0
        if hp.grad_clip_norm > 0 and grad_norm > hp.grad_clip_norm:
            clip = hp.grad_clip_norm / grad_norm
        self.step_count += 1
        t = self.step_count
        lr = hp.learning_rate
        bc1 = 1.0 - hp.beta1**t
        bc2 = 1.0 - hp.beta2**t
        update_sq = 0.0
        for name, p in params.items():
            g = grads[name] * clip if clip != 1.0 else grads[name]
            m, v = self.m[name], self.v[name]
            m *= hp.beta1
            m += (1.0 - hp.beta1) * g
            v *= hp.beta2
            v += (1.0 - hp.beta2) * (g * g)
            update = (m / bc1) / (np.sqrt(v / bc2) + hp.eps)
            if hp.weight_decay:
                p -= (lr * hp.weight_decay) * p
            p -= lr * update
            update_sq += float(np.vdot(update, update))
        param_norm = math.sqrt(sum(float(np.vdot(p, p)) for p in params.values()))
        return {
            "grad_norm:mean": grad_norm,
            "grad_clip_scale:mean": clip,
            "update_norm:mean": lr * math.sqrt(update_sq),
            "param_norm:mean": param_norm,
            "step:max": float(t),
        }

    # ------------------------------------------------------------------ (de)serialisation

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{"m.<param>": ..., "v.<param>": ..., "step": int64[1]}``."""
        out: dict[str, np.ndarray] = {"step": np.array([self.step_count], dtype=np.int64)}
        for k in self.m:
            out["m." + k] = self.m[k].copy()
            out["v." + k] = self.v[k].copy()
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Inverse of :meth:`state_dict`; keys and shapes must match (else ``ValueError``)."""
        expected = {"step"} | {"m." + k for k in self.m} | {"v." + k for k in self.v}
        if set(state) != expected:
            missing = sorted(expected - set(state))
            extra = sorted(set(state) - expected)
            raise ValueError(
                f"optimizer state does not match: missing {missing[:4]}, unexpected {extra[:4]}"
            )
        for slot, store in (("m.", self.m), ("v.", self.v)):
            for k in store:
                arr = np.asarray(state[slot + k])
                if arr.shape != store[k].shape:
                    raise ValueError(f"optimizer state {slot + k!r} has shape {arr.shape}")
        for slot, store in (("m.", self.m), ("v.", self.v)):
            for k in store:
                store[k] = np.array(state[slot + k], dtype=store[k].dtype, copy=True)
        self.step_count = int(np.asarray(state["step"]).reshape(-1)[0])
