"""A pipeline of named, weighted regularizers on top of a base custom loss.

``total = base_loss + Σ weightᵢ · Rᵢ``, with every term a function of the
per-token logprobs that ``forward_backward_custom`` fetches. The pipeline is
itself a custom loss function: pass it to ``forward_backward_custom`` (numpy or
torch backend) and it returns the total, its gradient, and metrics from which
:meth:`CustomLossOutput.from_metrics` rebuilds the structured output.

Terms run in parallel (a thread each, ``parallel=True``) or one after another;
``timeout`` bounds each term (TimeoutError naming it; Python cannot stop a
thread, so a timed-out term is abandoned, not killed). Gradient norms are L2
norms over all datums' per-token gradients.

Numpy backend: ``base_loss(data, logprobs) -> (loss, metrics, grads)`` (as for
``forward_backward_custom``) and each regularizer's
``numpy(data, logprobs) -> (value, grads)``. Torch backend:
``base_loss(data, logprobs) -> (loss_tensor, metrics)`` and each regularizer's
``torch(data, logprobs) -> tensor``; gradients come from autograd.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from tinkex.core.errors import InvalidArgumentError
from tinkex.types import Datum

Grads = list[np.ndarray]
PREFIX = "reg/"


class Regularizer(Protocol):
    """A penalty on the logprobs. ``name`` must be unique within a pipeline; ``weight`` >= 0."""

    @property
    def name(self) -> str: ...

    @property
    def weight(self) -> float: ...

    def numpy(self, data: Sequence[Datum], logprobs: Sequence[np.ndarray]
              ) -> tuple[float, Grads]: ...

    def torch(self, data: Sequence[Datum], logprobs: Sequence[Any]) -> Any: ...


@dataclass(frozen=True)
class RegularizerOutput:
    name: str
    value: float
    weight: float
    contribution: float
    """weight × value: what it adds to the total."""
    grad_norm: float | None
    """‖d value / d logprobs‖₂ (None when not tracked)."""
    grad_norm_weighted: float | None
    """weight × grad_norm."""
    seconds: float


@dataclass(frozen=True)
class CustomLossOutput:
    loss_total: float
    base_loss: float
    regularizers: Mapping[str, RegularizerOutput]
    regularizer_total: float
    total_grad_norm: float | None
    base_grad_norm: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    """The base loss's own metrics."""

    def to_metrics(self) -> dict[str, float]:
        """Flat metrics (as ``forward_backward_custom`` reports them)."""
        out = dict(self.metrics)
        out.update(loss_total=self.loss_total, base_loss=self.base_loss,
                   regularizer_total=self.regularizer_total)
        for key, value in (("total_grad_norm", self.total_grad_norm),
                           ("base_grad_norm", self.base_grad_norm)):
            if value is not None:
                out[key] = value
        for name, reg in self.regularizers.items():
            base = f"{PREFIX}{name}/"
            out[base + "value"] = reg.value
            out[base + "weight"] = reg.weight
            out[base + "contribution"] = reg.contribution
            out[base + "seconds"] = reg.seconds
            if reg.grad_norm is not None and reg.grad_norm_weighted is not None:
                out[base + "grad_norm"] = reg.grad_norm
                out[base + "grad_norm_weighted"] = reg.grad_norm_weighted
        return out

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, float]) -> CustomLossOutput:
        """The structured output back from a ForwardBackwardOutput's metrics."""
        names = sorted({k[len(PREFIX):].rsplit("/", 1)[0] for k in metrics if k.startswith(PREFIX)})
        regs = {}
        for name in names:
            base = f"{PREFIX}{name}/"
            regs[name] = RegularizerOutput(
                name, metrics[base + "value"], metrics[base + "weight"],
                metrics[base + "contribution"], metrics.get(base + "grad_norm"),
                metrics.get(base + "grad_norm_weighted"), metrics.get(base + "seconds", 0.0))
        own = {k: v for k, v in metrics.items()
               if not k.startswith(PREFIX) and k not in (
                   "loss_total", "base_loss", "regularizer_total", "total_grad_norm",
                   "base_grad_norm")}
        return cls(metrics["loss_total"], metrics["base_loss"], regs,
                   metrics["regularizer_total"], metrics.get("total_grad_norm"),
                   metrics.get("base_grad_norm"), own)


def grad_norm(grads: Sequence[Any]) -> float:
    """The L2 norm of per-datum gradients taken together."""
    return math.sqrt(sum(float(np.sum(np.square(np.asarray(g, dtype=np.float64))))
                         for g in grads))


class RegularizerPipeline:
    """``base_loss`` plus weighted regularizers, usable as a ``forward_backward_custom`` loss."""

    def __init__(self, base_loss: Callable[..., Any], regularizers: Sequence[Regularizer] = (),
                 *, parallel: bool = True, timeout: float | None = None,
                 track_grad_norms: bool = True, max_workers: int | None = None) -> None:
        seen: set[str] = set()
        for reg in regularizers:
            if not getattr(reg, "name", ""):
                raise InvalidArgumentError(f"regularizer {reg!r} has no name")
            if reg.name in seen:
                raise InvalidArgumentError(f"duplicate regularizer name {reg.name!r}: names must be unique")
            if "/" in reg.name:
                raise InvalidArgumentError(f"regularizer name {reg.name!r} may not contain '/'")
            if not (reg.weight >= 0 and math.isfinite(reg.weight)):
                raise InvalidArgumentError(f"regularizer {reg.name!r}: weight must be >= 0 "
                                 f"(got {reg.weight})")
            seen.add(reg.name)
        if timeout is not None and timeout <= 0:
            raise InvalidArgumentError("timeout must be positive")
        self.base_loss = base_loss
        self.regularizers = tuple(regularizers)
        self.parallel = parallel
        self.timeout = timeout
        self.track_grad_norms = track_grad_norms
        self.max_workers = max_workers

    # ---- running the terms --------------------------------------------------------------

    def _run(self, jobs: Mapping[str, Callable[[], Any]]) -> dict[str, tuple[Any, float]]:
        """Each job's result and seconds, in parallel or in sequence, under the timeout."""
        def timed(job: Callable[[], Any]) -> tuple[Any, float]:
            started = time.perf_counter()
            result = job()
            return result, time.perf_counter() - started

        if not self.parallel or len(jobs) < 2:
            out = {}
            for name, job in jobs.items():
                result, seconds = timed(job)
                if self.timeout is not None and seconds > self.timeout:
                    raise TimeoutError(f"regularizer {name!r} took {seconds:.2f} s "
                                       f"(timeout {self.timeout} s)")
                out[name] = (result, seconds)
            return out
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.max_workers or len(jobs), thread_name_prefix="tinkex-regularizer")
        try:
            futures = {name: pool.submit(timed, job) for name, job in jobs.items()}
            done, pending = concurrent.futures.wait(futures.values(), timeout=self.timeout)
            if pending:
                late = sorted(n for n, f in futures.items() if f in pending)
                raise TimeoutError(f"regularizer(s) {', '.join(map(repr, late))} did not finish "
                                   f"within {self.timeout} s")
            return {name: future.result() for name, future in futures.items()}
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    # ---- numpy --------------------------------------------------------------------------

    def compute_numpy(self, data: Sequence[Datum], logprobs: Sequence[np.ndarray]
                      ) -> tuple[CustomLossOutput, Grads]:
        """The structured output and d total / d logprobs per datum (numpy backend)."""
        out = self.base_loss(data, logprobs)
        if not (isinstance(out, tuple) and len(out) == 3):
            raise TypeError("with the numpy backend the base loss returns (loss, metrics, grads)")
        base, base_metrics, base_grads = out
        base_grads = [np.asarray(g, dtype=np.float64) for g in base_grads]
        results = self._run({reg.name: functools.partial(reg.numpy, data, logprobs)
                             for reg in self.regularizers})
        total_grads = [g.copy() for g in base_grads]
        outputs = {}
        for reg in self.regularizers:
            (value, grads), seconds = results[reg.name]
            grads = [np.asarray(g, dtype=np.float64) for g in grads]
            if len(grads) != len(logprobs) or any(
                    g.shape != np.shape(lp) for g, lp in zip(grads, logprobs, strict=True)):
                raise InvalidArgumentError(f"regularizer {reg.name!r} must return one gradient per datum, "
                                 "shaped like its logprobs")
            for total, g in zip(total_grads, grads, strict=True):
                total += reg.weight * g
            norm = grad_norm(grads) if self.track_grad_norms else None
            outputs[reg.name] = RegularizerOutput(
                reg.name, float(value), reg.weight, reg.weight * float(value), norm,
                None if norm is None else reg.weight * norm, seconds)
        return self._output(float(base), dict(base_metrics or {}), outputs,
                            grad_norm(base_grads) if self.track_grad_norms else None,
                            grad_norm(total_grads) if self.track_grad_norms else None), total_grads

    def _output(self, base: float, metrics: dict[str, float],
                outputs: dict[str, RegularizerOutput], base_norm: float | None,
                total_norm: float | None) -> CustomLossOutput:
        reg_total = sum(o.contribution for o in outputs.values())
        return CustomLossOutput(base + reg_total, base, outputs, reg_total, total_norm, base_norm,
                                metrics)

    # ---- torch --------------------------------------------------------------------------

    def compute_torch(self, data: Sequence[Datum], logprobs: Sequence[Any]
                      ) -> tuple[CustomLossOutput, Any]:
        """The structured output and the total loss tensor (torch backend)."""
        import torch

        base_tensor, base_metrics = self.base_loss(data, logprobs)
        results = self._run({reg.name: functools.partial(reg.torch, data, logprobs)
                             for reg in self.regularizers})
        total = base_tensor
        outputs = {}

        def norm_of(tensor: Any) -> float | None:
            if not self.track_grad_norms:
                return None
            grads = torch.autograd.grad(tensor, list(logprobs), retain_graph=True,
                                        allow_unused=True)
            return grad_norm([g.detach().numpy() for g in grads if g is not None])

        for reg in self.regularizers:
            tensor, seconds = results[reg.name]
            value = float(tensor.detach())
            norm = norm_of(tensor)
            outputs[reg.name] = RegularizerOutput(
                reg.name, value, reg.weight, reg.weight * value, norm,
                None if norm is None else reg.weight * norm, seconds)
            total = total + reg.weight * tensor
        output = self._output(float(base_tensor.detach()), dict(base_metrics or {}), outputs,
                              norm_of(base_tensor), norm_of(total))
        return output, total

    # ---- as a custom loss function ------------------------------------------------------

    def __call__(self, data: Sequence[Datum], logprobs: Sequence[Any]) -> Any:
        if logprobs and type(logprobs[0]).__module__.startswith("torch"):
            output, total = self.compute_torch(data, logprobs)
            return total, output.to_metrics()
        output, grads = self.compute_numpy(data, logprobs)
        return output.loss_total, output.to_metrics(), grads

    def __repr__(self) -> str:
        terms = ", ".join(f"{r.name}×{r.weight:g}" for r in self.regularizers)
        return f"RegularizerPipeline({terms})"
