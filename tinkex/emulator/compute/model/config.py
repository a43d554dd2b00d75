"""Configuration, presets and the byte-level vocabulary of the emulator's language model.

The emulator does not need a *good* model, it needs a *real* one: every number the
server reports (logprobs, losses, gradients, samples) comes from an actual forward /
backward pass, so client code that works against the emulator exercises the same
code paths it would against the real Tinker service.

Vocabulary
----------
Byte level, 258 ids: ``0..255`` are UTF-8 bytes, ``256`` is ``<bos>`` and ``257`` is
``<eos>``.  ``IMAGE_PLACEHOLDER`` (``-1``) marks a position that belongs to an image
chunk: it has no token id, it is embedded with a dedicated frozen vector
(``img_emb``, see :mod:`.transformer`) plus the usual position embedding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

BOS_ID = 256
EOS_ID = 257
VOCAB_SIZE = 258
#: Model-input id for one position of an image chunk (embedded with ``img_emb``).
IMAGE_PLACEHOLDER = -1


def encode(text: str, bos: bool = False, eos: bool = False) -> list[int]:
    """UTF-8 bytes of ``text`` as token ids, optionally wrapped in ``<bos>``/``<eos>``."""
    ids = list(text.encode("utf-8"))
    if bos:
        ids.insert(0, BOS_ID)
    if eos:
        ids.append(EOS_ID)
    return ids


def decode(ids: Iterable[int]) -> str:
    """Inverse of :func:`encode`; special / image ids are skipped, bad UTF-8 is replaced."""
    data = bytes(int(i) for i in ids if 0 <= int(i) < 256)
    return data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the decoder-only transformer (pre-norm RMSNorm blocks, QK-norm, GELU MLP)."""

    name: str
    d_model: int
    n_layers: int
    n_heads: int
    d_mlp: int
    max_seq_len: int
    vocab_size: int = VOCAB_SIZE
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        for field in ("d_model", "n_layers", "n_heads", "d_mlp", "max_seq_len", "vocab_size"):
            if getattr(self, field) <= 0:
                raise ValueError(f"ModelConfig.{field} must be positive")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


PRESETS: dict[str, ModelConfig] = {
    # ~0.49M parameters: the default "base model" of the emulator.
    "tinkex/tiny-lm": ModelConfig(
        name="tinkex/tiny-lm", d_model=128, n_layers=2, n_heads=4, d_mlp=512, max_seq_len=256
    ),
    # ~50k parameters: for fast tests.
    "tinkex/micro-lm": ModelConfig(
        name="tinkex/micro-lm", d_model=32, n_layers=2, n_heads=2, d_mlp=128, max_seq_len=128
    ),
}


def get_config(preset: str | ModelConfig) -> ModelConfig:
    """Resolve a preset name (or pass a :class:`ModelConfig` through)."""
    if isinstance(preset, ModelConfig):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(
            f"unknown base model {preset!r}; available: {', '.join(sorted(PRESETS))}"
        ) from None


#: Default LoRA alpha.  The LoRA update is ``(alpha / rank) * A @ B``.  A *fixed* alpha
#: (rather than ``alpha = rank``) keeps the useful learning rate roughly independent of
#: the rank.  Setups for large models commonly use 32; this tiny model is far more
#: sensitive to Adam's ~``lr``-sized steps on A and B, and alpha = 8 is what keeps
#: learning stable for ``learning_rate`` in about [5e-3, 3e-2] at ranks 8-32 (alpha = 32
#: diverges above ~1e-2).  At rank 8 the scaling is exactly 1.
DEFAULT_LORA_ALPHA = 8.0


@dataclass(frozen=True)
class LoraConfig:
    """Which matrices get LoRA adapters, with what rank and initialisation seed.

    ``seed=None`` means seed 0 (adapters are always deterministic).  ``alpha`` defaults
    to :data:`DEFAULT_LORA_ALPHA`, so the scaling is ``8 / rank``.
    """

    rank: int = 32
    seed: int | None = None
    train_mlp: bool = True
    train_attn: bool = True
    train_unembed: bool = True
    alpha: float = DEFAULT_LORA_ALPHA

    def __post_init__(self) -> None:
        if int(self.rank) < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {self.rank}")
        if not (self.train_mlp or self.train_attn or self.train_unembed):
            raise ValueError("LoRA config must train at least one of mlp, attn, unembed")
        if self.alpha <= 0:
            raise ValueError(f"LoRA alpha must be positive, got {self.alpha}")

    @property
    def scaling(self) -> float:
        return float(self.alpha) / int(self.rank)

    @property
    def effective_seed(self) -> int:
        return 0 if self.seed is None else int(self.seed)
