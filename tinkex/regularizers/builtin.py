"""Ready-made regularizers on per-token logprobs, each with a numpy gradient and a torch form.

Every one averages over the tokens that count: those whose ``weights`` entry
is positive (all tokens when a datum has no weights), so prompt tokens of
supervised data are left alone. ``N`` below is that token count.

=============  ======================================================  ===================
class          value R                                                 dR / d lpₜ
=============  ======================================================  ===================
L1             Σ |lpₜ| / N                                             sign(lpₜ) / N
L2             Σ lpₜ² / N                                              2 lpₜ / N
Entropy        ∓ Σ H(pₜ) / N, H(p) = -p log p - (1-p) log(1-p),         see ``_entropy``
               pₜ = exp(lpₜ); ``maximize`` rewards entropy (R = -H)
KLDivergence   Σ (rₜ - 1 - log rₜ) / N with rₜ = exp(refₜ - lpₜ)        (1 - rₜ) / N
               (the non-negative "k3" estimate of KL(policy ‖ reference))
=============  ======================================================  ===================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinkex.core.errors import InvalidArgumentError
from tinkex.types import Datum

_EPS = 1e-12


def token_masks(data: Sequence[Datum], logprobs: Sequence[Any]) -> list[np.ndarray]:
    """1.0 for each token that counts (positive weight, or no weights at all), else 0.0."""
    out = []
    for datum, lp in zip(data, logprobs, strict=True):
        weights = datum.loss_fn_inputs.get("weights")
        n = len(lp)
        if weights is None:
            out.append(np.ones(n))
        else:
            w = np.asarray(weights.to_numpy(), dtype=np.float64).reshape(-1)
            out.append((w > 0).astype(np.float64) if len(w) == n else np.ones(n))
    return out


def _count(masks: Sequence[np.ndarray]) -> float:
    return max(float(sum(m.sum() for m in masks)), 1.0)


def _torch_masks(data: Sequence[Datum], logprobs: Sequence[Any]) -> tuple[list[Any], float]:
    import torch

    masks = token_masks(data, logprobs)
    return [torch.tensor(m, dtype=lp.dtype) for m, lp in zip(masks, logprobs, strict=True)], \
        _count(masks)


@dataclass(frozen=True)
class L1:
    """Mean absolute logprob: pushes logprobs toward 0 (confident predictions)."""

    weight: float = 1.0
    name: str = "l1"

    def numpy(self, data: Sequence[Datum], logprobs: Sequence[np.ndarray]
              ) -> tuple[float, list[np.ndarray]]:
        masks = token_masks(data, logprobs)
        n = _count(masks)
        lps = [np.asarray(lp, dtype=np.float64) for lp in logprobs]
        value = sum(float(np.sum(m * np.abs(lp))) for m, lp in zip(masks, lps, strict=True)) / n
        return value, [m * np.sign(lp) / n for m, lp in zip(masks, lps, strict=True)]

    def torch(self, data: Sequence[Datum], logprobs: Sequence[Any]) -> Any:
        masks, n = _torch_masks(data, logprobs)
        return sum((m * lp.abs()).sum() for m, lp in zip(masks, logprobs, strict=True)) / n


@dataclass(frozen=True)
class L2:
    """Mean squared logprob."""

    weight: float = 1.0
    name: str = "l2"

    def numpy(self, data: Sequence[Datum], logprobs: Sequence[np.ndarray]
              ) -> tuple[float, list[np.ndarray]]:
        masks = token_masks(data, logprobs)
        n = _count(masks)
        lps = [np.asarray(lp, dtype=np.float64) for lp in logprobs]
        value = sum(float(np.sum(m * lp ** 2)) for m, lp in zip(masks, lps, strict=True)) / n
        return value, [2 * m * lp / n for m, lp in zip(masks, lps, strict=True)]

    def torch(self, data: Sequence[Datum], logprobs: Sequence[Any]) -> Any:
        masks, n = _torch_masks(data, logprobs)
        return sum((m * lp ** 2).sum() for m, lp in zip(masks, logprobs, strict=True)) / n


def _entropy(lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary entropy of p = exp(lp) and its derivative with respect to lp."""
    p = np.clip(np.exp(lp), _EPS, 1 - _EPS)
    log_p, log_q = np.log(p), np.log1p(-p)
    h = -(p * log_p + (1 - p) * log_q)
    # dH/dp = log((1-p)/p); dp/dlp = p
    return h, p * (log_q - log_p)


@dataclass(frozen=True)
class Entropy:
    """Entropy of each target token's probability (as a yes/no event).

    ``mode="maximize"`` (R = -H) discourages over-confidence; ``"minimize"`` (R = H)
    sharpens predictions.
    """

    weight: float = 1.0
    mode: str = "maximize"
    name: str = "entropy"

    def __post_init__(self) -> None:
        if self.mode not in ("maximize", "minimize"):
            raise InvalidArgumentError(f"Entropy mode must be 'maximize' or 'minimize', not {self.mode!r}")

    @property
    def _sign(self) -> float:
        return -1.0 if self.mode == "maximize" else 1.0

    def numpy(self, data: Sequence[Datum], logprobs: Sequence[np.ndarray]
              ) -> tuple[float, list[np.ndarray]]:
        masks = token_masks(data, logprobs)
        n = _count(masks)
        value, grads = 0.0, []
        for m, lp in zip(masks, logprobs, strict=True):
            h, dh = _entropy(np.asarray(lp, dtype=np.float64))
            value += float(np.sum(m * h))
            grads.append(self._sign * m * dh / n)
        return self._sign * value / n, grads

    def torch(self, data: Sequence[Datum], logprobs: Sequence[Any]) -> Any:
        masks, n = _torch_masks(data, logprobs)
        total = 0
        for m, lp in zip(masks, logprobs, strict=True):
            p = lp.exp().clamp(_EPS, 1 - _EPS)
            h = -(p * p.log() + (1 - p) * (-p).log1p())
            total = total + (m * h).sum()
        return self._sign * total / n


@dataclass(frozen=True)
class KLDivergence:
    """KL(policy ‖ reference) per token, from the reference model's logprobs of the same tokens.

    ``reference`` is one array per datum, or a function ``(data) -> arrays`` (e.g.
    the logprobs a frozen sampler computed for the batch).
    """

    reference: Sequence[Any] | Callable[[Sequence[Datum]], Sequence[Any]]
    weight: float = 1.0
    name: str = "kl"

    def _reference(self, data: Sequence[Datum], logprobs: Sequence[Any]) -> list[np.ndarray]:
        ref = self.reference(data) if callable(self.reference) else self.reference
        arrays = [np.asarray(r, dtype=np.float64).reshape(-1) for r in ref]
        if len(arrays) != len(logprobs) or any(
                len(r) != len(lp) for r, lp in zip(arrays, logprobs, strict=True)):
            raise InvalidArgumentError(f"{self.name}: the reference needs one logprob per target token "
                             "of every datum")
        return arrays

    def numpy(self, data: Sequence[Datum], logprobs: Sequence[np.ndarray]
              ) -> tuple[float, list[np.ndarray]]:
        masks = token_masks(data, logprobs)
        n = _count(masks)
        value, grads = 0.0, []
        for m, lp, ref in zip(masks, logprobs, self._reference(data, logprobs), strict=True):
            ratio = np.exp(ref - np.asarray(lp, dtype=np.float64))
            value += float(np.sum(m * (ratio - 1 - np.log(ratio))))
            grads.append(m * (1 - ratio) / n)
        return value / n, grads

    def torch(self, data: Sequence[Datum], logprobs: Sequence[Any]) -> Any:
        import torch

        masks, n = _torch_masks(data, logprobs)
        total = 0
        for m, lp, ref in zip(masks, logprobs, self._reference(data, logprobs), strict=True):
            log_ratio = torch.tensor(ref, dtype=lp.dtype) - lp
            total = total + (m * (log_ratio.exp() - 1 - log_ratio)).sum()
        return total / n
