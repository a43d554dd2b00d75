"""Tinker's loss functions, as functions of the per-token target logprobs.

Every loss is a *sum* over tokens (and over the batch); nothing is averaged.  With
``logp`` the model's log-probability of ``target_tokens[i]`` at position ``i``,
``old_logp`` the sampler's ``logprobs`` input, ``A`` the ``advantages`` input and
``ratio = exp(logp - old_logp)``:

=====================  ==================================================================
``cross_entropy``      ``-sum(logp * weights)``
``importance_sampling`` ``-sum(ratio * A)``
``ppo``                ``-sum(min(ratio * A, clip(ratio, low, high) * A))``
                       (config ``clip_low_threshold`` = 0.8, ``clip_high_threshold`` = 1.2)
``cispo``              ``-sum(stopgrad(clip(ratio, low, high)) * A * logp)``
                       (config ``clip_low_threshold`` = 0.0, ``clip_high_threshold`` = 4.0)
``dro``                ``-sum(logp * A) + (beta / 2) * sum((logp - old_logp) ** 2)``
                       (config ``beta`` = 0.05)
=====================  ==================================================================

Each loss is implemented as ``elementwise(logp, inputs, config) -> (loss, dloss/dlogp)``
on padded ``[B, T]`` arrays; the caller zeroes padded positions.  The gradient of the
non-smooth ``ppo`` objective is the usual sub-gradient (zero where the clipped branch
is selected).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray]
Elementwise = Callable[[np.ndarray, Arrays, dict[str, float]], tuple[np.ndarray, np.ndarray]]


def _cross_entropy(logp: np.ndarray, x: Arrays, c: dict[str, float]
                   ) -> tuple[np.ndarray, np.ndarray]:
    w = x["weights"]
    return -logp * w, -w


def _importance_sampling(logp: np.ndarray, x: Arrays, c: dict[str, float]
                         ) -> tuple[np.ndarray, np.ndarray]:
    ratio = np.exp(logp - x["logprobs"])
    adv = x["advantages"]
    return -ratio * adv, -ratio * adv


def _ppo(logp: np.ndarray, x: Arrays, c: dict[str, float]
         ) -> tuple[np.ndarray, np.ndarray]:
    ratio = np.exp(logp - x["logprobs"])
    adv = x["advantages"]
    unclipped = ratio * adv
    clipped = np.clip(ratio, c["clip_low_threshold"], c["clip_high_threshold"]) * adv
    use_unclipped = unclipped <= clipped
    loss = -np.minimum(unclipped, clipped)
    grad = np.where(use_unclipped, -unclipped, 0.0).astype(logp.dtype)
    return loss, grad


def _cispo(logp: np.ndarray, x: Arrays, c: dict[str, float]
           ) -> tuple[np.ndarray, np.ndarray]:
    ratio = np.exp(logp - x["logprobs"])
    coef = np.clip(ratio, c["clip_low_threshold"], c["clip_high_threshold"]) * x["advantages"]
    return -coef * logp, -coef


def _dro(logp: np.ndarray, x: Arrays, c: dict[str, float]
         ) -> tuple[np.ndarray, np.ndarray]:
    adv = x["advantages"]
    diff = logp - x["logprobs"]
    beta = c["beta"]
    return -logp * adv + (0.5 * beta) * diff * diff, -adv + beta * diff


@dataclass(frozen=True)
class LossSpec:
    name: str
    inputs: tuple[str, ...]  # required float inputs besides target_tokens
    config_defaults: Mapping[str, float]
    fn: Elementwise


_RL_INPUTS = ("logprobs", "advantages")
LOSSES: dict[str, LossSpec] = {
    spec.name: spec
    for spec in (
        LossSpec("cross_entropy", ("weights",), {}, _cross_entropy),
        LossSpec("importance_sampling", _RL_INPUTS, {}, _importance_sampling),
        LossSpec("ppo", _RL_INPUTS, {"clip_low_threshold": 0.8, "clip_high_threshold": 1.2}, _ppo),
        LossSpec(
            "cispo", _RL_INPUTS, {"clip_low_threshold": 0.0, "clip_high_threshold": 4.0}, _cispo
        ),
        LossSpec("dro", _RL_INPUTS, {"beta": 0.05}, _dro),
    )
}


def resolve_loss(
    loss_fn: str, loss_fn_config: Mapping[str, Any] | None
) -> tuple[LossSpec, dict[str, float]]:
    """Look up a loss and merge its config with the defaults (``ValueError`` on bad input)."""
    spec = LOSSES.get(loss_fn)
    if spec is None:
        raise ValueError(
            f"unknown loss function {loss_fn!r}; supported: {', '.join(sorted(LOSSES))}"
        )
    config = dict(spec.config_defaults)
    for key, value in (loss_fn_config or {}).items():
        if key not in spec.config_defaults:
            allowed = ", ".join(spec.config_defaults) or "none"
            raise ValueError(
                f"loss function {loss_fn!r} does not accept loss_fn_config key {key!r} "
                f"(accepted: {allowed})"
            )
        try:
            config[key] = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"loss_fn_config[{key!r}] for {loss_fn!r} must be a number, got {value!r}"
            ) from None
    if (
        "clip_low_threshold" in config
        and config["clip_low_threshold"] > config["clip_high_threshold"]
    ):
        raise ValueError(f"{loss_fn}: clip_low_threshold must be <= clip_high_threshold")
    return spec, config


def validate_inputs(
    spec: LossSpec, inputs: Mapping[str, Any], n_tokens: int, vocab_size: int, index: int
) -> dict[str, np.ndarray]:
    """Check one datum's ``loss_fn_inputs``; return them as 1-D numpy arrays.

    Extra keys are ignored.  Raises ``ValueError`` naming the loss and the offending key.
    """
    where = f"loss function {spec.name!r}, datum {index}"
    out: dict[str, np.ndarray] = {}
    for key in ("target_tokens",) + spec.inputs:
        if key not in inputs or inputs[key] is None:
            raise ValueError(f"{where}: missing required loss_fn_inputs key {key!r}")
        arr = np.asarray(inputs[key])
        if arr.ndim != 1 or arr.shape[0] != n_tokens:
            raise ValueError(
                f"{where}: loss_fn_inputs[{key!r}] has shape {arr.shape}, expected "
                f"({n_tokens},) (one value per model-input position)"
            )
        if key == "target_tokens":
            if arr.size and not np.issubdtype(arr.dtype, np.integer):
                if not np.all(np.mod(arr, 1) == 0):
                    raise ValueError(f"{where}: target_tokens must be integers")
            arr = arr.astype(np.int64)
            if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
                raise ValueError(f"{where}: target_tokens must lie in [0, {vocab_size})")
        else:
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: loss_fn_inputs[{key!r}] must be numeric") from None
        out[key] = arr
    return out
