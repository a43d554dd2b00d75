"""``TrainableModel``: frozen base weights + one LoRA adapter + AdamW, behind a small API.

This is what one Tinker "training client" maps to in the emulator::

    m = TrainableModel("tinkex/tiny-lm", LoraConfig(rank=8))
    outputs, metrics = m.forward_backward(batch, "cross_entropy")   # grads accumulate
    m.optim_step({"learning_rate": 1e-2})                            # AdamW, then zero grads
    m.sample(encode("hello", bos=True), max_tokens=20, temperature=0)
    state = m.state_dict()                                           # flat dict of arrays

A batch is a sequence of :class:`Datum` (or ``(tokens, loss_fn_inputs)`` pairs, or
mappings with ``"tokens"``/``"model_input"`` and ``"loss_fn_inputs"``).  ``tokens`` is the
model input; :data:`.config.IMAGE_PLACEHOLDER` (or ``None``) marks image positions.
``loss_fn_inputs["target_tokens"][i]`` is the token predicted at position ``i``.

Not thread-safe: the caller serialises access to one instance.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import LoraConfig, ModelConfig, get_config
from .lora import LoraAdapter
from .losses import resolve_loss, validate_inputs
from .optim import AdamParams, AdamW
from .sampling import SampleResult, sample
from .transformer import Weights, backward, build_base_weights, forward, log_softmax, pad_batch


@dataclass
class Datum:
    tokens: Sequence[int | None]
    loss_fn_inputs: Mapping[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=8)
def get_base_weights(preset: str | ModelConfig, seed: int = 0, dtype: str = "float32") -> Weights:
    """Cached, read-only base weights (shared between all models on the same base)."""
    weights = build_base_weights(preset, seed=seed, dtype=np.dtype(dtype).type)
    for w in weights.values():
        w.flags.writeable = False
    return weights


def _as_datum(item: Any, index: int) -> Datum:
    if isinstance(item, Datum):
        return item
    if isinstance(item, Mapping):
        tokens = item.get("tokens", item.get("model_input"))
        if tokens is None:
            raise ValueError(f"datum {index}: missing 'tokens'")
        return Datum(tokens, item.get("loss_fn_inputs") or {})
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return Datum(item[0], item[1])
    raise ValueError(f"datum {index}: expected Datum, (tokens, loss_fn_inputs) or mapping")


META_PREFIX, ADAPTER_PREFIX, OPTIM_PREFIX = "meta.", "adapter.", "optim."


def lora_config_from_state_dict(state: Mapping[str, np.ndarray]) -> LoraConfig:
    """Recover the :class:`LoraConfig` stored in a :meth:`TrainableModel.state_dict`."""
    try:
        meta = {
            k[len(META_PREFIX) :]: np.asarray(v).reshape(-1)[0]
            for k, v in state.items()
            if k.startswith(META_PREFIX)
        }
        return LoraConfig(
            rank=int(meta["lora_rank"]),
            seed=int(meta["lora_seed"]),
            train_mlp=bool(meta["train_mlp"]),
            train_attn=bool(meta["train_attn"]),
            train_unembed=bool(meta["train_unembed"]),
            alpha=float(meta["lora_alpha"]),
        )
    except KeyError as e:
        raise ValueError(f"state dict lacks LoRA metadata {e}") from None


class TrainableModel:
    """A base model with a trainable LoRA adapter, gradient accumulator and AdamW state."""

    def __init__(
        self,
        base_model: str | ModelConfig = "tinkex/tiny-lm",
        lora: LoraConfig | None = None,
        *,
        base_seed: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        self.config: ModelConfig = get_config(base_model)
        self.lora_config = lora if lora is not None else LoraConfig()
        self.dtype = np.dtype(dtype)
        self.base_seed = int(base_seed)
        self.base_weights = get_base_weights(self.config, self.base_seed, self.dtype.name)
        self.adapter = LoraAdapter(self.config, self.lora_config, self.base_weights, self.dtype)
        self.optimizer = AdamW(self.adapter.params)

    # ------------------------------------------------------------------ introspection

    @property
    def num_base_params(self) -> int:
        return int(sum(w.size for w in self.base_weights.values()))

    @property
    def num_trainable_params(self) -> int:
        return self.adapter.num_params()

    def merged_weights(self) -> Weights:
        """Base weights with the adapter folded in (what sampling and forward use)."""
        return self.adapter.merged(self.base_weights)

    # ------------------------------------------------------------------ training

    def forward(
        self,
        batch: Sequence[Any],
        loss_fn: str = "cross_entropy",
        loss_fn_config: Mapping[str, Any] | None = None,
    ) -> tuple[list[dict[str, np.ndarray]], dict[str, float]]:
        """Loss and per-token logprobs without touching gradients."""
        return self._run(batch, loss_fn, loss_fn_config, with_grad=False)

    def forward_backward(
        self,
        batch: Sequence[Any],
        loss_fn: str = "cross_entropy",
        loss_fn_config: Mapping[str, Any] | None = None,
    ) -> tuple[list[dict[str, np.ndarray]], dict[str, float]]:
        """Like :meth:`forward`, and *adds* the loss gradient to the accumulated gradients."""
        return self._run(batch, loss_fn, loss_fn_config, with_grad=True)

    def _run(self, batch: Sequence[Any], loss_fn: str, loss_fn_config: Mapping[str, Any] | None,
             with_grad: bool) -> tuple[list[dict[str, np.ndarray]], dict[str, float]]:
        spec, config = resolve_loss(loss_fn, loss_fn_config)
        data = [_as_datum(item, i) for i, item in enumerate(batch)]
        if not data:
            return [], {"loss:sum": 0.0}
        cfg, dt = self.config, self.dtype
        ids, image_mask, lengths = pad_batch([d.tokens for d in data], cfg)
        B, T = ids.shape
        inputs = [
            validate_inputs(spec, d.loss_fn_inputs, int(lengths[i]), cfg.vocab_size, i)
            for i, d in enumerate(data)
        ]
        mask = np.arange(T)[None, :] < lengths[:, None]
        padded: dict[str, np.ndarray] = {}
        for key in inputs[0]:
            arr = np.zeros((B, T), dtype=np.int64 if key == "target_tokens" else dt)
            for i, x in enumerate(inputs):
                arr[i, : lengths[i]] = x[key]
            padded[key] = arr
        targets = padded.pop("target_tokens")

        W = self.merged_weights()
        logits, cache = forward(cfg, W, ids, image_mask)
        logp_all = log_softmax(logits)
        del logits
        logp = np.take_along_axis(logp_all, targets[..., None], axis=-1)[..., 0]
        logp = np.where(mask, logp, 0.0).astype(dt)
        elem_loss, dlogp = spec.fn(logp, padded, config)
        elem_loss = np.where(mask, elem_loss, 0.0)
        if with_grad:
            dlogp = np.where(mask, dlogp, 0.0).astype(dt)
            # d logp[target] / d logits = onehot(target) - softmax(logits)
            dlogits = np.exp(logp_all, out=logp_all)
            dlogits *= -dlogp[..., None]
            flat = dlogits.reshape(B * T, cfg.vocab_size)
            flat[np.arange(B * T), targets.reshape(-1)] += dlogp.reshape(-1)
            backward(cfg, W, cache, dlogits, set(self.adapter.targets), self.adapter.grad_sink())
        outputs = [{"logprobs": logp[i, : lengths[i]].astype(dt, copy=True)} for i in range(B)]
        return outputs, {"loss:sum": float(elem_loss.sum(dtype=np.float64))}

    def zero_grad(self) -> None:
        self.adapter.zero_grad()

    def optim_step(
        self, adam_params: AdamParams | Mapping[str, Any] | None = None
    ) -> dict[str, float]:
        """One AdamW step on the accumulated gradients, which are then cleared."""
        hp = AdamParams.from_any(adam_params)
        metrics = self.optimizer.step(self.adapter.params, self.adapter.grads, hp)
        self.adapter.zero_grad()
        return metrics

    # ------------------------------------------------------------------ sampling

    def sample(
        self, prompt_tokens: Sequence[int | None], max_tokens: int, **kwargs: Any
    ) -> SampleResult:
        """See :func:`.sampling.sample` for the arguments and semantics."""
        return sample(self.config, self.merged_weights(), prompt_tokens, max_tokens, **kwargs)

    def compute_logprobs(
        self, tokens: Sequence[int | None], prompt_logprobs_last_n: int | None = None
    ) -> list[float | None]:
        """``log p(tokens[i] | tokens[:i])`` for each position (``None`` at index 0, and
        before the last ``prompt_logprobs_last_n`` positions when that is given)."""
        res = self.sample(
            tokens, 0, prompt_logprobs=True, prompt_logprobs_last_n=prompt_logprobs_last_n
        )
        assert res.prompt_logprobs is not None
        return res.prompt_logprobs

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self, include_optimizer: bool = True) -> dict[str, np.ndarray]:
        """Flat ``dict[str, np.ndarray]`` (safetensors-friendly, all arrays >= 1-D).

        Keys: ``meta.*`` (LoRA config, 1-element arrays), ``adapter.<target>.lora_{A,B}``
        and, with ``include_optimizer``, ``optim.step`` / ``optim.{m,v}.<param>``.
        Accumulated gradients are not saved.
        """
        lc = self.lora_config
        out: dict[str, np.ndarray] = {
            META_PREFIX + "lora_rank": np.array([lc.rank], np.int64),
            META_PREFIX + "lora_seed": np.array([lc.effective_seed], np.int64),
            META_PREFIX + "lora_alpha": np.array([lc.alpha], np.float64),
            META_PREFIX + "train_mlp": np.array([int(lc.train_mlp)], np.int64),
            META_PREFIX + "train_attn": np.array([int(lc.train_attn)], np.int64),
            META_PREFIX + "train_unembed": np.array([int(lc.train_unembed)], np.int64),
        }
        for k, v in self.adapter.params.items():
            out[ADAPTER_PREFIX + k] = v.copy()
        if include_optimizer:
            for k, v in self.optimizer.state_dict().items():
                out[OPTIM_PREFIX + k] = v
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray], load_optimizer: bool = True) -> None:
        """Load adapter weights (and optimizer state if ``load_optimizer`` and present).

        Without optimizer state (or with ``load_optimizer=False``) the optimizer is reset.
        Accumulated gradients are cleared.  Mismatched LoRA configs raise ``ValueError``.
        """
        if any(k.startswith(META_PREFIX) for k in state):
            stored = lora_config_from_state_dict(state)
            mine = self.lora_config
            if (
                stored.rank,
                stored.train_mlp,
                stored.train_attn,
                stored.train_unembed,
                stored.alpha,
            ) != (mine.rank, mine.train_mlp, mine.train_attn, mine.train_unembed, mine.alpha):
                raise ValueError(f"checkpoint LoRA config {stored} does not match {mine}")
        params = {
            k[len(ADAPTER_PREFIX) :]: np.asarray(v)
            for k, v in state.items()
            if k.startswith(ADAPTER_PREFIX)
        }
        optim = {
            k[len(OPTIM_PREFIX) :]: np.asarray(v)
            for k, v in state.items()
            if k.startswith(OPTIM_PREFIX)
        }
        new_opt = AdamW(self.adapter.params)
        if load_optimizer and optim:
            new_opt.load_state_dict(optim)
        self.adapter.load_params(params)
        self.optimizer = new_opt
        self.adapter.zero_grad()

    @classmethod
    def from_state_dict(
        cls,
        base_model: str | ModelConfig,
        state: Mapping[str, np.ndarray],
        *,
        load_optimizer: bool = True,
        base_seed: int = 0,
        dtype: Any = np.float32,
    ) -> TrainableModel:
        """Create a model whose LoRA config is read from ``state`` and load it."""
        model = cls(
            base_model, lora_config_from_state_dict(state), base_seed=base_seed, dtype=dtype
        )
        model.load_state_dict(state, load_optimizer=load_optimizer)
        return model
