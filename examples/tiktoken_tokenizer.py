"""tiktoken-format tokenizers (Kimi K2 and others): loaded from local files, never downloaded.

A model whose Hugging Face files are ``tiktoken.model`` + ``tokenizer_config.json``
(instead of ``tokenizer.json``) gets a ``TiktokenTokenizer`` from
``tinkex.tokenizers.get_tokenizer``: from a directory, or from the local Hugging
Face cache by model name. The optional ``tiktoken`` package makes it fast; without
it tinkex encodes itself. This script writes a small vocabulary in that layout
(the real one comes with ``huggingface-cli download moonshotai/Kimi-K2-Instruct
tiktoken.model tokenizer_config.json``), so it needs no emulator or network
(unlike the examples that use ``python -m tinkex.emulator``)::

    python examples/tiktoken_tokenizer.py
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

from tinkex.tokenizers import get_tokenizer

MERGES = [b"to", b"ke", b"ken", b"token", b" token", b"iz", b"er", b" tokenizer"]


def write_vocabulary(directory: Path) -> None:
    tokens = [bytes([i]) for i in range(256)] + MERGES
    lines = (f"{base64.b64encode(t).decode()} {rank}" for rank, t in enumerate(tokens))
    (directory / "tiktoken.model").write_text("\n".join(lines) + "\n")
    first_special = len(tokens)
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "added_tokens_decoder": {str(first_special): {"content": "[BOS]", "special": True},
                                 str(first_special + 1): {"content": "[EOS]", "special": True}},
        "bos_token": "[BOS]", "eos_token": "[EOS]", "add_bos_token": True}))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_vocabulary(Path(tmp))
        tokenizer = get_tokenizer(tmp)
        text = "A tokenizer turns text into tokens."
        ids = tokenizer.encode(text)
        print(f"{tokenizer!r}")
        print(f"{len(text.encode())} bytes -> {len(ids)} ids: {ids}")
        back = tokenizer.decode(ids)
        print(f"round trip: {back == text}; bos {tokenizer.bos_token_id}, "
              f"eos {tokenizer.eos_token_id}")


if __name__ == "__main__":
    main()
