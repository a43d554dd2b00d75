"""Tokenizers: a built-in byte tokenizer for the emulator's models, Hugging Face for others.

``get_tokenizer`` returns an object with ``encode``, ``decode``,
``apply_chat_template``, ``eos_token_id`` and ``bos_token_id``, like a Hugging
Face tokenizer. Hugging Face tokenizers are loaded with the optional
``tokenizers`` package from files that are already on disk (a local Hugging Face
cache or a directory); tinkex never downloads at run time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

BYTE_TOKENIZER_ID = "tinkex/byte-tokenizer"
BYTE_MODEL_PREFIX = "tinkex/"
BYTE_MODEL_TYPE = "tinkex_byte_lm"


class Tokenizer(Protocol):
    bos_token_id: int | None
    eos_token_id: int | None

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...

    def decode(self, ids: Any, skip_special_tokens: bool = ...) -> str: ...


class TokenizerUnavailableError(RuntimeError):
    """No tokenizer could be loaded; the message says what to install or where to put files."""


CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}")
"""The byte models' chat format: ``<bos>``, then ``<|role|>\n`` + content + ``<eos>`` per
message, and ``<|assistant|>\n`` to prompt a reply. :meth:`ByteTokenizer.apply_chat_template`
renders exactly this without Jinja; the Hugging Face files carry it as ``chat_template``."""


class Encoding(dict):  # type: ignore[type-arg]
    """``{"input_ids": [...], "attention_mask": [...]}``, also readable as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _content(message: Any) -> tuple[str, str]:
    role, content = message["role"], message["content"]
    if not isinstance(content, str):  # [{"type": "text", "text": ...}, ...]
        content = "".join(part["text"] for part in content if part.get("type") == "text")
    return str(role), content


class ByteTokenizer:
    """UTF-8 bytes are ids 0-255; 256 is ``<bos>`` and 257 is ``<eos>``.

    The methods behave like a Hugging Face tokenizer's (``encode`` adds ``<bos>``
    unless ``add_special_tokens=False``), and give the same ids as the
    tokenizer files the emulator hands to ``transformers`` (see
    :func:`byte_tokenizer_files`).
    """

    bos_token_id = 256
    eos_token_id = 257
    pad_token_id = None
    bos_token = "<bos>"
    eos_token = "<eos>"
    vocab_size = 258
    name_or_path = BYTE_TOKENIZER_ID
    chat_template = CHAT_TEMPLATE

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        ids = list(text.encode("utf-8"))
        return [self.bos_token_id, *ids] if add_special_tokens else ids

    def decode(self, ids: Any, skip_special_tokens: bool = False) -> str:
        data = bytearray()
        specials = {self.bos_token_id: self.bos_token, self.eos_token_id: self.eos_token}
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

    def convert_ids_to_tokens(self, ids: Any) -> Any:
        one = isinstance(ids, int)
        tokens = [self.decode([i]) for i in ([ids] if one else ids)]
        return tokens[0] if one else tokens

    def apply_chat_template(self, conversation: Any, add_generation_prompt: bool = False,
                            tokenize: bool = True, return_dict: bool = True,
                            continue_final_message: bool = False, **kwargs: Any) -> Any:
        """:data:`CHAT_TEMPLATE`, as ``transformers`` 5 applies it: text when not
        ``tokenize``, else ``{"input_ids", "attention_mask"}`` (a list of ids with
        ``return_dict=False``)."""
        if conversation and not isinstance(conversation[0], dict) and not hasattr(
                conversation[0], "keys"):  # a batch of conversations
            return [self.apply_chat_template(c, add_generation_prompt, tokenize, return_dict,
                                             continue_final_message) for c in conversation]
        ids, text = [self.bos_token_id], [self.bos_token]
        messages = [_content(m) for m in conversation]
        for n, (role, content) in enumerate(messages):
            head = f"<|{role}|>\n{content}"
            ids += list(head.encode("utf-8"))
            text.append(head)
            if not (continue_final_message and n == len(messages) - 1):
                ids.append(self.eos_token_id)
                text.append(self.eos_token)
        if add_generation_prompt:
            ids += list(b"<|assistant|>\n")
            text.append("<|assistant|>\n")
        if not tokenize:
            return "".join(text)
        if not return_dict:
            return ids
        return Encoding(input_ids=ids, attention_mask=[1] * len(ids))

    def __call__(self, text: str, add_special_tokens: bool = True) -> Encoding:
        ids = self.encode(text, add_special_tokens=add_special_tokens)
        return Encoding(input_ids=ids, attention_mask=[1] * len(ids))

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return "ByteTokenizer()"


def byte_tokenizer_files() -> dict[str, str]:
    """Hugging Face tokenizer files (``tokenizers`` format) equivalent to :class:`ByteTokenizer`.

    A byte-level BPE with no merges: each byte is its own token (via the
    byte-to-unicode table of the ``ByteLevel`` pre-tokenizer), ``<bos>`` and
    ``<eos>`` are special added tokens, and a template post-processor puts
    ``<bos>`` first when special tokens are added. ``transformers.AutoTokenizer``
    loads the directory with no network access and no ``config.json``.
    """
    byte_char = _bytes_to_unicode()
    special = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True}
               for i, c in ((256, ByteTokenizer.bos_token), (257, ByteTokenizer.eos_token))]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                  "use_regex": False}
    bos = {"SpecialToken": {"id": ByteTokenizer.bos_token, "type_id": 0}}
    tokenizer: dict[str, Any] = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
        "normalizer": None, "pre_tokenizer": byte_level,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {ByteTokenizer.bos_token: {
                "id": ByteTokenizer.bos_token, "ids": [256], "tokens": [ByteTokenizer.bos_token]}}},
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {byte_char[b]: b for b in range(256)}, "merges": []},
    }
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": ByteTokenizer.bos_token,
              "eos_token": ByteTokenizer.eos_token, "chat_template": CHAT_TEMPLATE,
              "model_max_length": 1 << 20, "clean_up_tokenization_spaces": False,
              "add_bos_token": True}
    special_map = {"bos_token": ByteTokenizer.bos_token, "eos_token": ByteTokenizer.eos_token}
    # config.json makes the directory loadable from a hub cache too (transformers reads it
    # there); its model_type is how tinkex recognizes the byte tokenizer in a directory.
    model = {"model_type": BYTE_MODEL_TYPE, "vocab_size": ByteTokenizer.vocab_size,
             "bos_token_id": ByteTokenizer.bos_token_id,
             "eos_token_id": ByteTokenizer.eos_token_id}
    return {"tokenizer.json": json.dumps(tokenizer, ensure_ascii=False, indent=1),
            "tokenizer_config.json": json.dumps(config, indent=1),
            "special_tokens_map.json": json.dumps(special_map, indent=1),
            "config.json": json.dumps(model, indent=1)}


def is_byte_tokenizer_dir(path: Path) -> bool:
    try:
        return bool(json.loads((path / "config.json").read_text()).get("model_type")
                    == BYTE_MODEL_TYPE)
    except (OSError, ValueError, AttributeError):
        return False


def _bytes_to_unicode() -> dict[int, str]:
    """The byte -> printable character table of byte-level BPE (as in GPT-2)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


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


def find_tokenizer_file(name: str) -> Path | None:
    """``tokenizer.json`` for ``name``: a directory path, or a snapshot in a local HF cache."""
    direct = Path(name)
    if direct.is_file():
        return direct
    if (direct / "tokenizer.json").is_file():
        return direct / "tokenizer.json"
    repo_dir = "models--" + name.replace("/", "--")
    for cache in _hf_cache_dirs():
        snapshots = cache / repo_dir / "snapshots"
        if snapshots.is_dir():
            for snap in sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
                if (snap / "tokenizer.json").is_file():
                    return snap / "tokenizer.json"
    return None


def _transformers_tokenizer(name: str) -> Any | None:
    """``transformers.AutoTokenizer`` from local files, when transformers is installed."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return None
    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError):
        return None


def get_tokenizer(tokenizer_id: str | None, model_name: str | None = None) -> Any:
    """The tokenizer for a model (byte tokenizer for the emulator's models).

    The emulator's byte tokenizer needs nothing installed, whether it is named
    (``tinkex/...``) or given as a directory it wrote. Other tokenizers come
    from local files: through ``transformers`` when it is installed (so
    ``apply_chat_template`` uses the model's own template), else through the
    ``tokenizers`` package (encode/decode only).
    """
    name = tokenizer_name(tokenizer_id, model_name)
    if (name == BYTE_TOKENIZER_ID or name.startswith(BYTE_MODEL_PREFIX)
            or is_byte_tokenizer_dir(Path(name))):
        return ByteTokenizer()
    loaded = _transformers_tokenizer(name)
    if loaded is not None:
        return loaded
    path = find_tokenizer_file(name)
    if path is None:
        caches = ", ".join(str(d) for d in _hf_cache_dirs())
        raise TokenizerUnavailableError(
            f"no tokenizer.json for {name!r} on this machine: put the model's tokenizer files in "
            f"the Hugging Face cache ({caches}) e.g. with `huggingface-cli download {name} "
            f"tokenizer.json`, or pass a directory that contains tokenizer.json")
    try:
        from tokenizers import Tokenizer as _HFTokenizer
    except ImportError:
        raise TokenizerUnavailableError(
            f"found {path} but the 'tokenizers' package is not installed: "
            "pip install 'tinkex[tokenizers]'") from None
    return HuggingFaceTokenizer(_HFTokenizer.from_file(str(path)), name)
