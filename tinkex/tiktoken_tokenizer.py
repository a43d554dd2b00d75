"""Tokenizers in the tiktoken format (e.g. Kimi K2), loaded from local files only.

A model that uses one ships, in its Hugging Face layout, a ``tiktoken.model``
(one ``base64(token bytes) rank`` pair per line: the byte-level BPE merge
ranks) and a ``tokenizer_config.json`` (special tokens under
``added_tokens_decoder``, ``bos_token`` / ``eos_token``, ``add_bos_token``).
With the optional ``tiktoken`` package installed it does the encoding; without
it this module encodes itself with the same byte-pair merge rule (slower, same
ids for the same pre-tokenization). Text is first split with the GPT-4 style
pattern (exactly with the ``regex`` package, approximated with ``re``
otherwise); the tokenizer config may give its own as ``pat_str``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tinkex.core.errors import InvalidArgumentError

MODEL_FILE = "tiktoken.model"
CONFIG_FILE = "tokenizer_config.json"

PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
           r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
"""The pre-tokenization of cl100k-style encodings (needs the ``regex`` package)."""
STDLIB_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|(?:[^\r\n\w]|_)?[^\W\d_]+|\d{1,3}|"
                  r" ?(?:[^\s\w]|_)+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
"""The same with ``re``: letters are ``[^\\W\\d_]``, numbers ``\\d``."""


def load_ranks(path: Path) -> dict[bytes, int]:
    """The merge ranks of a ``tiktoken.model`` file (ValueError naming the bad line)."""
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not a 'base64 rank' pair ({exc})") from None
    return ranks


def _compile(pattern: str) -> Any:
    try:
        import regex
    except ImportError:
        return re.compile(STDLIB_PATTERN if pattern == PATTERN else pattern)
    return regex.compile(pattern)


def byte_pair_merge(piece: bytes, ranks: Mapping[bytes, int]) -> list[int]:
    """The token ids of one pre-token: merge the adjacent pair of lowest rank until none is left."""
    if piece in ranks:
        return [ranks[piece]]
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        best, at = None, -1
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (best is None or rank < best):
                best, at = rank, i
        if best is None:
            break
        parts[at:at + 2] = [parts[at] + parts[at + 1]]
    try:
        return [ranks[p] for p in parts]
    except KeyError as exc:
        raise ValueError(f"the vocabulary has no token for byte {exc.args[0]!r}") from None


class TiktokenTokenizer:
    """``encode`` / ``decode`` / ``bos_token_id`` / ``eos_token_id`` over a tiktoken BPE vocabulary."""

    def __init__(self, ranks: Mapping[bytes, int], special_tokens: Mapping[str, int], *,
                 name: str = "tiktoken", bos_token: str | None = None,
                 eos_token: str | None = None, add_bos_token: bool = False,
                 pattern: str = PATTERN) -> None:
        self.name_or_path = name
        self._ranks = dict(ranks)
        self._decoder = {rank: token for token, rank in self._ranks.items()}
        self.special_tokens = dict(special_tokens)
        self._special_ids = {i: s for s, i in self.special_tokens.items()}
        self.bos_token_id = self.special_tokens.get(bos_token) if bos_token else None
        self.eos_token_id = self.special_tokens.get(eos_token) if eos_token else None
        self.add_bos_token = add_bos_token
        self.vocab_size = max([*self._decoder, *self._special_ids, -1]) + 1
        self._pattern = _compile(pattern)
        self._specials = (re.compile("|".join(re.escape(s) for s in
                                              sorted(self.special_tokens, key=len, reverse=True)))
                          if self.special_tokens else None)
        self._fast = _tiktoken_encoding(name, pattern, self._ranks, self.special_tokens)

    @classmethod
    def from_directory(cls, directory: str | Path) -> TiktokenTokenizer:
        """Load ``tiktoken.model`` and (when present) ``tokenizer_config.json`` from a directory."""
        directory = Path(directory)
        ranks = load_ranks(directory / MODEL_FILE)
        config: dict[str, Any] = {}
        if (directory / CONFIG_FILE).is_file():
            config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        specials = {}
        for token_id, entry in (config.get("added_tokens_decoder") or {}).items():
            content = entry.get("content") if isinstance(entry, Mapping) else None
            if isinstance(content, str):
                specials[content] = int(token_id)
        return cls(ranks, specials, name=str(config.get("name_or_path") or directory.name),
                   bos_token=_token(config.get("bos_token")),
                   eos_token=_token(config.get("eos_token")),
                   add_bos_token=bool(config.get("add_bos_token", False)),
                   pattern=str(config.get("pat_str") or PATTERN))

    def _encode_ordinary(self, text: str) -> list[int]:
        if self._fast is not None:
            return list(self._fast.encode_ordinary(text))
        ids: list[int] = []
        for match in self._pattern.finditer(text):
            ids += byte_pair_merge(match.group().encode("utf-8"), self._ranks)
        return ids

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids; special-token strings in ``text`` become their ids."""
        ids: list[int] = []
        if add_special_tokens and self.add_bos_token and self.bos_token_id is not None:
            ids.append(self.bos_token_id)
        start = 0
        for match in (self._specials.finditer(text) if self._specials else ()):
            ids += self._encode_ordinary(text[start:match.start()])
            ids.append(self.special_tokens[match.group()])
            start = match.end()
        ids += self._encode_ordinary(text[start:])
        return ids

    def decode(self, ids: Iterable[Any], skip_special_tokens: bool = True) -> str:
        out = bytearray()
        for raw in ids:
            token = int(raw)
            if token in self._special_ids:
                if not skip_special_tokens:
                    out += self._special_ids[token].encode("utf-8")
                continue
            try:
                out += self._decoder[token]
            except KeyError:
                raise InvalidArgumentError(f"token id {token} is not in the vocabulary") from None
        return out.decode("utf-8", errors="replace")

    def __call__(self, text: str) -> dict[str, list[int]]:
        return {"input_ids": self.encode(text)}

    def __repr__(self) -> str:
        engine = "tiktoken" if self._fast is not None else "pure Python"
        return f"TiktokenTokenizer({self.name_or_path!r}, {self.vocab_size} ids, {engine})"


def _token(value: Any) -> str | None:
    """A config's token entry: a string, or an object with its ``content``."""
    if isinstance(value, Mapping):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _tiktoken_encoding(name: str, pattern: str, ranks: dict[bytes, int],
                       specials: Mapping[str, int]) -> Any:
    """A ``tiktoken.Encoding`` when the optional package is installed, else None."""
    try:
        import tiktoken
    except ImportError:
        return None
    return tiktoken.Encoding(name=name, pat_str=pattern, mergeable_ranks=ranks,
                             special_tokens=dict(specials))
