"""Tokenizers: a built-in byte tokenizer for the emulator's models, Hugging Face for others.

Models whose Hugging Face files are a ``tiktoken.model`` and a
``tokenizer_config.json`` (no ``tokenizer.json``, e.g. Kimi K2) get a
:class:`~tinkex.tiktoken_tokenizer.TiktokenTokenizer`.

``get_tokenizer`` returns an object with ``encode``, ``decode``, ``eos_token_id``
and ``bos_token_id``. Hugging Face tokenizers are loaded with the optional
``tokenizers`` package from files that are already on disk (a local Hugging Face
cache or a directory); tinkex never downloads at run time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from tinkex.tiktoken_tokenizer import MODEL_FILE, TiktokenTokenizer

BYTE_TOKENIZER_ID = "tinkex/byte-tokenizer"
BYTE_MODEL_PREFIX = "tinkex/"


class Tokenizer(Protocol):
    bos_token_id: int | None
    eos_token_id: int | None

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...

    def decode(self, ids: Any, skip_special_tokens: bool = ...) -> str: ...


class TokenizerUnavailableError(RuntimeError):
    """No tokenizer could be loaded; the message says what to install or where to put files."""


class ByteTokenizer:
    """UTF-8 bytes are ids 0-255; 256 is ``<bos>`` and 257 is ``<eos>``."""

    bos_token_id = 256
    eos_token_id = 257
    vocab_size = 258
    name_or_path = BYTE_TOKENIZER_ID

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids = list(text.encode("utf-8"))
        return [self.bos_token_id, *ids] if add_special_tokens else ids

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        data = bytearray()
        specials = {self.bos_token_id: "<bos>", self.eos_token_id: "<eos>"}
        out = []
        for i in (int(x) for x in ids):
            if i < 256:
                data.append(i)
                continue
            out.append(data.decode("utf-8", errors="replace"))
            data = bytearray()
            if not skip_special_tokens and i in specials:
                out.append(specials[i])
        out.append(data.decode("utf-8", errors="replace"))
        return "".join(out)

    def __call__(self, text: str) -> dict[str, list[int]]:
        return {"input_ids": self.encode(text)}

    def __repr__(self) -> str:
        return "ByteTokenizer()"


class HuggingFaceTokenizer:
    """A thin adapter over ``tokenizers.Tokenizer`` with the methods scripts use."""

    def __init__(self, inner: Any, name: str):
        self._inner = inner
        self.name_or_path = name
        self.bos_token_id = self._special(("<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>"))
        self.eos_token_id = self._special(("<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>",
                                           "<|im_end|>", "<|eot_id|>"))

    def _special(self, candidates: tuple[str, ...]) -> int | None:
        for token in candidates:
            token_id = self._inner.token_to_id(token)
            if token_id is not None:
                return int(token_id)
        return None

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(self._inner.encode(text, add_special_tokens=add_special_tokens).ids)

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        return str(self._inner.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens))

    def __repr__(self) -> str:
        return f"HuggingFaceTokenizer({self.name_or_path!r})"


def tokenizer_name(tokenizer_id: str | None, model_name: str | None) -> str:
    """The tokenizer to load: the id before any ``:``, else derived from the model name."""
    if tokenizer_id:
        return tokenizer_id.split(":", 1)[0]
    if not model_name:
        raise TokenizerUnavailableError("the server reported neither a tokenizer id nor a model name")
    name = model_name.split(":", 1)[0]
    parts = name.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else name


def _hf_cache_dirs() -> list[Path]:
    dirs = []
    for env in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(env):
            dirs.append(Path(os.environ[env]))
    home = os.environ.get("HF_HOME")
    dirs.append(Path(home) / "hub" if home else Path.home() / ".cache" / "huggingface" / "hub")
    return dirs


def find_tokenizer_file(name: str, filename: str = "tokenizer.json") -> Path | None:
    """``filename`` for ``name``: a directory path, or a snapshot in a local HF cache."""
    direct = Path(name)
    if filename == "tokenizer.json" and direct.is_file():
        return direct
    if (direct / filename).is_file():
        return direct / filename
    repo_dir = "models--" + name.replace("/", "--")
    for cache in _hf_cache_dirs():
        snapshots = cache / repo_dir / "snapshots"
        if snapshots.is_dir():
            for snap in sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
                if (snap / filename).is_file():
                    return snap / filename
    return None


def get_tokenizer(tokenizer_id: str | None, model_name: str | None = None) -> Any:
    """The tokenizer for a model (byte tokenizer for the emulator's ``tinkex/*`` models)."""
    name = tokenizer_name(tokenizer_id, model_name)
    if name == BYTE_TOKENIZER_ID or name.startswith(BYTE_MODEL_PREFIX):
        return ByteTokenizer()
    path = find_tokenizer_file(name)
    if path is None:
        bpe = find_tokenizer_file(name, MODEL_FILE)
        if bpe is not None:  # a tiktoken-format model (e.g. Kimi K2)
            return TiktokenTokenizer.from_directory(bpe.parent)
        caches = ", ".join(str(d) for d in _hf_cache_dirs())
        raise TokenizerUnavailableError(
            f"no tokenizer.json or {MODEL_FILE} for {name!r} on this machine: put the model's "
            f"tokenizer files in the Hugging Face cache ({caches}) e.g. with "
            f"`huggingface-cli download {name} tokenizer.json`, or pass a directory that "
            "contains them")
    try:
        from tokenizers import Tokenizer as _HFTokenizer
    except ImportError:
        raise TokenizerUnavailableError(
            f"found {path} but the 'tokenizers' package is not installed: "
            "pip install 'tinkex[tokenizers]'") from None
    return HuggingFaceTokenizer(_HFTokenizer.from_file(str(path)), name)
