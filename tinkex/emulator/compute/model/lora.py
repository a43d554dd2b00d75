"""LoRA adapters over the frozen base weights.

For every adapted linear map ``W [d_in, d_out]`` the effective weight is::

    W_eff = W + s * A @ B,      A [d_in, r],  B [r, d_out],  s = alpha / r

``A`` is drawn from ``U(-1/sqrt(d_in), 1/sqrt(d_in))`` (PEFT's default scale) using a
generator seeded with ``(seed, index of the matrix)``, so a matrix's ``A`` does not depend
on which other matrices are adapted; ``B`` starts at zero so a fresh adapter computes
exactly the base model.  ``alpha`` defaults to 8 (see :data:`.config.DEFAULT_LORA_ALPHA`).

Targets: ``train_attn`` -> ``attn.{q,k,v,o}`` of every block, ``train_mlp`` ->
``mlp.{up,down}``, ``train_unembed`` -> ``unembed``.  Embeddings and norm gains are never
trained.

Gradients are computed without materialising ``dW``: with ``x`` the input and ``dy`` the
output gradient of the adapted map (as provided by :func:`.transformer.backward`)::

    dB += s * (x @ A).T @ dy          dA += s * x.T @ (dy @ B.T)
"""

from __future__ import annotations

import math

import numpy as np

from .config import LoraConfig, ModelConfig
from .transformer import GradSink, Weights, linear_names


def lora_targets(cfg: ModelConfig, lora: LoraConfig) -> list[str]:
    """Names of the base linear maps adapted under ``lora`` (fixed order)."""
    out = []
    for name in linear_names(cfg):
        if name == "unembed":
            ok = lora.train_unembed
        elif ".attn." in name:
            ok = lora.train_attn
        else:
            ok = lora.train_mlp
        if ok:
            out.append(name)
    return out


class LoraAdapter:
    """Trainable low-rank factors plus their accumulated gradients.

    ``params`` / ``grads`` are flat dicts keyed ``"<target>.lora_A"`` / ``"<target>.lora_B"``.
    """

    def __init__(
        self, cfg: ModelConfig, lora: LoraConfig, base: Weights, dtype: type = np.float32
    ) -> None:
        self.cfg = cfg
        self.lora = lora
        self.dtype = np.dtype(dtype)
        self.targets = lora_targets(cfg, lora)
        self.scaling = lora.scaling
        r = int(lora.rank)
        all_linears = linear_names(cfg)
        self.params: dict[str, np.ndarray] = {}
        for target in self.targets:
            d_in, d_out = base[target].shape
            rng = np.random.default_rng([lora.effective_seed, all_linears.index(target)])
            bound = 1.0 / math.sqrt(d_in)
            self.params[target + ".lora_A"] = rng.uniform(-bound, bound, (d_in, r)).astype(
                self.dtype
            )
            self.params[target + ".lora_B"] = np.zeros((r, d_out), dtype=self.dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    # ------------------------------------------------------------------ weights

    def merged(self, base: Weights) -> Weights:
        """Base weights with every adapted matrix replaced by ``W + s * A @ B``."""
        out = dict(base)
        for target in self.targets:
            A = self.params[target + ".lora_A"]
            B = self.params[target + ".lora_B"]
            out[target] = base[target] + self.scaling * (A @ B)
        return out

    def num_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    # ------------------------------------------------------------------ gradients

    def zero_grad(self) -> None:
        for g in self.grads.values():
            g.fill(0.0)

    def grad_sink(self) -> GradSink:
        """A sink for :func:`.transformer.backward` that accumulates into ``self.grads``."""
        s = self.scaling

        def sink(name: str, x: np.ndarray, dy: np.ndarray) -> None:
            A = self.params[name + ".lora_A"]
            B = self.params[name + ".lora_B"]
            self.grads[name + ".lora_B"] += s * ((x @ A).T @ dy)
            self.grads[name + ".lora_A"] += s * (x.T @ (dy @ B.T))

        return sink

    # ------------------------------------------------------------------ (de)serialisation

    def load_params(self, params: dict[str, np.ndarray]) -> None:
        """Replace all factors; keys and shapes must match exactly (else ``ValueError``)."""
        missing = sorted(set(self.params) - set(params))
        extra = sorted(set(params) - set(self.params))
        if missing or extra:
            raise ValueError(
                f"LoRA weights do not match this adapter: missing {missing[:4]}, unexpected {extra[:4]}"
            )
        for k, v in params.items():
            if tuple(v.shape) != self.params[k].shape:
                raise ValueError(
                    f"LoRA weight {k!r} has shape {tuple(v.shape)}, expected {self.params[k].shape}"
                )
        for k, v in params.items():
            self.params[k] = np.array(v, dtype=self.dtype, copy=True)
