"""Forward and backward passes of the decoder-only transformer, in plain numpy.

Architecture (pre-norm, no biases)::

    x = tok_emb[ids] + pos_emb[:T]              (image positions use img_emb instead of tok_emb)
    for each block:
        x = x + Attn(RMSNorm(x; norm1))         causal multi-head self-attention, q/k/v/o,
                                                with parameter-free RMSNorm of each head's q and k
        x = x + MLP(RMSNorm(x; norm2))          up -> GELU(tanh approx) -> down
    logits = RMSNorm(x; norm_f) @ unembed       (untied from tok_emb)

Weights are a flat ``dict[str, np.ndarray]``; linear maps are stored as ``[d_in, d_out]``
and applied as ``x @ W``.  The forward pass works on a right-padded batch ``[B, T]``:
with causal attention a real position never attends to a padding position, so no
key-padding mask is needed; padded positions are simply given zero loss gradient.

QK-norm bounds the attention logits (by ``sqrt(d_head)``), which keeps attention from
saturating when large LoRA updates hit ``attn.q``/``attn.k``: this tiny model is
trained with learning rates around 1e-2, far above what real LoRA fine-tuning uses.

The backward pass is generic in *which* parameters are trained: for every linear map
whose name is in ``need`` it calls ``sink(name, x, dy)`` with the 2-D input ``x`` and
output gradient ``dy`` of that map.  A full fine-tune would accumulate ``x.T @ dy``; the
LoRA module instead computes the (much cheaper) gradients of its low-rank factors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from .config import IMAGE_PLACEHOLDER, ModelConfig, get_config

Weights = dict[str, np.ndarray]
GradSink = Callable[[str, np.ndarray, np.ndarray], None]

_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715


def linear_names(cfg: ModelConfig) -> list[str]:
    """Names of all linear maps (the only matrices LoRA can adapt), in a fixed order."""
    names = []
    for i in range(cfg.n_layers):
        names += [f"blocks.{i}.attn.{p}" for p in ("q", "k", "v", "o")]
        names += [f"blocks.{i}.mlp.up", f"blocks.{i}.mlp.down"]
    names.append("unembed")
    return names


def weight_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Shape of every base weight, in the (deterministic) initialisation order."""
    d, f, v = cfg.d_model, cfg.d_mlp, cfg.vocab_size
    shapes: dict[str, tuple[int, ...]] = {
        "tok_emb": (v, d),
        "pos_emb": (cfg.max_seq_len, d),
        "img_emb": (d,),
    }
    for i in range(cfg.n_layers):
        p = f"blocks.{i}."
        shapes[p + "norm1"] = (d,)
        for name in ("q", "k", "v", "o"):
            shapes[p + "attn." + name] = (d, d)
        shapes[p + "norm2"] = (d,)
        shapes[p + "mlp.up"] = (d, f)
        shapes[p + "mlp.down"] = (f, d)
    shapes["norm_f"] = (d,)
    shapes["unembed"] = (d, v)
    return shapes


def build_base_weights(
    preset: str | ModelConfig, seed: int = 0, dtype: type = np.float32
) -> Weights:
    """Deterministic, untrained base weights for ``preset``.

    Embeddings are N(0, 1) (RMSNorm makes their scale irrelevant to the first block),
    linear maps N(0, 1/d_in) so activations keep unit scale, and the residual output
    projections (``attn.o``, ``mlp.down``) are further scaled by ``1/sqrt(2 n_layers)``
    (GPT-2 style) so the residual stream does not blow up.  Norm gains are ones.
    """
    cfg = get_config(preset)
    rng = np.random.default_rng(seed)
    out: Weights = {}
    resid_scale = 1.0 / math.sqrt(2 * cfg.n_layers)
    for name, shape in weight_shapes(cfg).items():
        if name.endswith(("norm1", "norm2", "norm_f")):
            w = np.ones(shape)
        elif name in ("tok_emb", "pos_emb", "img_emb"):
            w = rng.standard_normal(shape)
        else:
            w = rng.standard_normal(shape) / math.sqrt(shape[0])
            if name.endswith(("attn.o", "mlp.down")):
                w *= resid_scale
        out[name] = w.astype(dtype)
    return out


def count_params(weights: Weights) -> int:
    return int(sum(w.size for w in weights.values()))


# ----------------------------------------------------------------------------- batching


def pad_batch(
    sequences: Iterable[Iterable[int | None]], cfg: ModelConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-pad token sequences into ``ids [B, T]``, ``image_mask [B, T]``, ``lengths [B]``.

    ``None`` and :data:`IMAGE_PLACEHOLDER` both mark image positions.  Raises
    ``ValueError`` for empty sequences, out-of-vocabulary ids and over-long inputs.
    """
    seqs = [[IMAGE_PLACEHOLDER if t is None else int(t) for t in s] for s in sequences]
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    if len(seqs) == 0:
        return np.zeros((0, 0), np.int64), np.zeros((0, 0), bool), lengths
    if lengths.min() == 0:
        raise ValueError("model input must contain at least one token")
    T = int(lengths.max())
    if T > cfg.max_seq_len:
        raise ValueError(
            f"model input has {T} tokens, more than the context window of "
            f"{cfg.name} ({cfg.max_seq_len})"
        )
    ids = np.zeros((len(seqs), T), dtype=np.int64)
    for b, s in enumerate(seqs):
        ids[b, : len(s)] = s
    image_mask = ids == IMAGE_PLACEHOLDER
    bad = ((ids < 0) | (ids >= cfg.vocab_size)) & ~image_mask
    if bad.any():
        raise ValueError(
            f"token id {int(ids[bad][0])} out of range [0, {cfg.vocab_size}) "
            f"(use {IMAGE_PLACEHOLDER} for image positions)"
        )
    ids[image_mask] = 0
    return ids, image_mask, lengths


# ----------------------------------------------------------------------------- building blocks


def rmsnorm(
    x: np.ndarray, gain: np.ndarray | float, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(y, xhat, r)`` with ``r = sqrt(mean(x^2) + eps)``, ``xhat = x / r``, ``y = xhat * gain``."""
    r = np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    xhat = x / r
    return xhat * gain, xhat, r


def rmsnorm_backward(
    dy: np.ndarray, xhat: np.ndarray, r: np.ndarray, gain: np.ndarray | float
) -> np.ndarray:
    dxhat = dy * gain
    dx: np.ndarray = (dxhat - xhat * np.mean(dxhat * xhat, axis=-1, keepdims=True)) / r
    return dx


def gelu(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tanh-approximated GELU; returns ``(gelu(u), tanh_term)`` (the latter for backward)."""
    t = np.tanh(_GELU_C * (u + _GELU_K * u * u * u))
    return 0.5 * u * (1.0 + t), t


def gelu_backward(dg: np.ndarray, u: np.ndarray, t: np.ndarray) -> np.ndarray:
    du_inner = _GELU_C * (1.0 + 3.0 * _GELU_K * u * u)
    du: np.ndarray = dg * (0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * du_inner)
    return du


def softmax(s: np.ndarray) -> np.ndarray:
    s = s - s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return s


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    logp: np.ndarray = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return logp


def qkv_weight(W: Weights, layer: int) -> np.ndarray:
    p = f"blocks.{layer}.attn."
    return np.concatenate([W[p + "q"], W[p + "k"], W[p + "v"]], axis=1)


def embed(W: Weights, ids: np.ndarray, image_mask: np.ndarray | None, start: int = 0) -> np.ndarray:
    """Token (or image) embedding plus position embedding for positions ``start..``."""
    x = W["tok_emb"][ids]
    if image_mask is not None and image_mask.any():
        x[image_mask] = W["img_emb"]
    embedded: np.ndarray = x + W["pos_emb"][start : start + ids.shape[-1]]
    return embedded


# ----------------------------------------------------------------------------- forward


@dataclass
class ForwardCache:
    """Activations saved by :func:`forward` for :func:`backward` (and K/V for sampling)."""

    shape: tuple[int, int]
    layers: list[dict[str, np.ndarray]] = field(default_factory=list)
    final: dict[str, np.ndarray] = field(default_factory=dict)


def forward(
    cfg: ModelConfig,
    W: Weights,
    ids: np.ndarray,
    image_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, ForwardCache]:
    """Logits ``[B, T, V]`` for a right-padded batch of ids, plus the backward cache."""
    B, T = ids.shape
    d, H, dh = cfg.d_model, cfg.n_heads, cfg.d_head
    scale = 1.0 / math.sqrt(dh)
    causal = np.triu(np.ones((T, T), dtype=bool), k=1)
    cache = ForwardCache(shape=(B, T))

    x = embed(W, ids, image_mask)
    for layer in range(cfg.n_layers):
        p = f"blocks.{layer}."
        n1, xhat1, r1 = rmsnorm(x, W[p + "norm1"], cfg.norm_eps)
        n1 = n1.reshape(B * T, d)
        qkv = (n1 @ qkv_weight(W, layer)).reshape(B, T, 3, H, dh).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, H, T, dh]
        q, qhat, rq = rmsnorm(q, 1.0, cfg.norm_eps)
        k, khat, rk = rmsnorm(k, 1.0, cfg.norm_eps)
        s = (q @ k.transpose(0, 1, 3, 2)) * scale
        s[..., causal] = -np.inf
        probs = softmax(s)
        a = (probs @ v).transpose(0, 2, 1, 3).reshape(B * T, d)
        x = x + (a @ W[p + "attn.o"]).reshape(B, T, d)

        n2, xhat2, r2 = rmsnorm(x, W[p + "norm2"], cfg.norm_eps)
        n2 = n2.reshape(B * T, d)
        u = n2 @ W[p + "mlp.up"]
        g, t = gelu(u)
        x = x + (g @ W[p + "mlp.down"]).reshape(B, T, d)
        cache.layers.append(
            dict(
                xhat1=xhat1,
                r1=r1,
                n1=n1,
                q=q,
                k=k,
                v=v,
                rq=rq,
                rk=rk,
                probs=probs,
                a=a,
                xhat2=xhat2,
                r2=r2,
                n2=n2,
                u=u,
                t=t,
                g=g,
            )
        )

    nf, xhatf, rf = rmsnorm(x, W["norm_f"], cfg.norm_eps)
    nf = nf.reshape(B * T, d)
    logits = (nf @ W["unembed"]).reshape(B, T, cfg.vocab_size)
    cache.final = dict(xhatf=xhatf, rf=rf, nf=nf)
    return logits, cache


# ----------------------------------------------------------------------------- backward


def _layer_of(name: str) -> int:
    return int(name.split(".")[1]) if name.startswith("blocks.") else -1


def backward(
    cfg: ModelConfig,
    W: Weights,
    cache: ForwardCache,
    dlogits: np.ndarray,
    need: set[str],
    sink: GradSink,
) -> None:
    """Backpropagate ``dlogits [B, T, V]``; call ``sink(name, x, dy)`` for linears in ``need``.

    Backprop stops below the lowest block that contains a needed linear map.
    """
    B, T = cache.shape
    d, H, dh = cfg.d_model, cfg.n_heads, cfg.d_head
    scale = 1.0 / math.sqrt(dh)
    dl = dlogits.reshape(B * T, cfg.vocab_size)
    if "unembed" in need:
        sink("unembed", cache.final["nf"], dl)
    block_layers = [_layer_of(n) for n in need if n.startswith("blocks.")]
    if not block_layers:
        return
    lowest = min(block_layers)

    f = cache.final
    dx = rmsnorm_backward((dl @ W["unembed"].T).reshape(B, T, d), f["xhatf"], f["rf"], W["norm_f"])
    for layer in range(cfg.n_layers - 1, lowest - 1, -1):
        c = cache.layers[layer]
        p = f"blocks.{layer}."
        # --- MLP: x_out = x_mid + down(gelu(up(norm2(x_mid))))
        dm = dx.reshape(B * T, d)
        if p + "mlp.down" in need:
            sink(p + "mlp.down", c["g"], dm)
        du = gelu_backward(dm @ W[p + "mlp.down"].T, c["u"], c["t"])
        if p + "mlp.up" in need:
            sink(p + "mlp.up", c["n2"], du)
        dn2 = (du @ W[p + "mlp.up"].T).reshape(B, T, d)
        dx = dx + rmsnorm_backward(dn2, c["xhat2"], c["r2"], W[p + "norm2"])
        # --- attention: x_mid = x_in + o(attn(qkv(norm1(x_in))))
        do = dx.reshape(B * T, d)
        if p + "attn.o" in need:
            sink(p + "attn.o", c["a"], do)
        da = (do @ W[p + "attn.o"].T).reshape(B, T, H, dh).transpose(0, 2, 1, 3)
        probs = c["probs"]
        dv = probs.transpose(0, 1, 3, 2) @ da
        dp = da @ c["v"].transpose(0, 1, 3, 2)
        ds = probs * (dp - np.sum(dp * probs, axis=-1, keepdims=True))
        ds *= scale
        dq = rmsnorm_backward(ds @ c["k"], c["q"], c["rq"], 1.0)
        dk = rmsnorm_backward(ds.transpose(0, 1, 3, 2) @ c["q"], c["k"], c["rk"], 1.0)
        dqkv = np.stack([dq, dk, dv]).transpose(1, 3, 0, 2, 4).reshape(B * T, 3 * d)
        for i, name in enumerate(("q", "k", "v")):
            if p + "attn." + name in need:
                sink(p + "attn." + name, c["n1"], dqkv[:, i * d : (i + 1) * d])
        dn1 = (dqkv @ qkv_weight(W, layer).T).reshape(B, T, d)
        dx = dx + rmsnorm_backward(dn1, c["xhat1"], c["r1"], W[p + "norm1"])
