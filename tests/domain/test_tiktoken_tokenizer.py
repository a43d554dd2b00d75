"""tiktoken-format tokenizers (Kimi K2's layout) from a small BPE file made here."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tinkex.tiktoken_tokenizer import (
    PATTERN,
    TiktokenTokenizer,
    byte_pair_merge,
    load_ranks,
)
from tinkex.tokenizers import TokenizerUnavailableError, get_tokenizer

MERGES = [b"he", b"ll", b"llo", b"hello", b" w", b" wor", b"or", b"ld", b" world", b"\xc3\xa9"]


def write_model(directory: Path, *, config: bool = True) -> dict[bytes, int]:
    """A byte-level BPE vocabulary: the 256 bytes, then a few merges, then special tokens."""
    directory.mkdir(parents=True, exist_ok=True)
    tokens = [bytes([i]) for i in range(256)] + MERGES
    ranks = {t: i for i, t in enumerate(tokens)}
    (directory / "tiktoken.model").write_text(
        "".join(f"{base64.b64encode(t).decode()} {r}\n" for t, r in ranks.items()))
    if config:
        n = len(tokens)
        (directory / "tokenizer_config.json").write_text(json.dumps({
            "added_tokens_decoder": {str(n): {"content": "[BOS]", "special": True},
                                     str(n + 1): {"content": "[EOS]", "special": True},
                                     str(n + 2): {"content": "<|im_end|>", "special": True}},
            "bos_token": "[BOS]", "eos_token": {"content": "[EOS]"}, "add_bos_token": True,
            "tokenizer_class": "TikTokenTokenizer"}))
    return ranks


def test_round_trips_text_and_uses_the_merges(tmp_path: Path):
    ranks = write_model(tmp_path / "kimi")
    tok = TiktokenTokenizer.from_directory(tmp_path / "kimi")
    assert tok.bos_token_id == 266 and tok.eos_token_id == 267 and tok.vocab_size == 269
    text = "hello world, héllo wörld! 123 4567\n\tdone 日本語"
    ids = tok.encode(text)
    assert ids[0] == tok.bos_token_id and tok.decode(ids) == text
    assert ids[1:3] == [ranks[b"hello"], ranks[b" world"]]
    assert len(ids) < len(text.encode()) + 1
    assert tok.encode("hello", add_special_tokens=False) == [ranks[b"hello"]]
    # special tokens in the text, kept or dropped on decode
    ids = tok.encode("hi<|im_end|>", add_special_tokens=False)
    assert ids[-1] == 268
    assert tok.decode(ids) == "hi" and tok.decode(ids, skip_special_tokens=False) == "hi<|im_end|>"
    assert "TiktokenTokenizer" in repr(tok)


def test_merge_rule_lowest_rank_first():
    ranks = {bytes([i]): i for i in range(256)}
    ranks[b"ab"] = 300
    ranks[b"bc"] = 256  # lower rank: merged first, so "abc" -> a, bc
    assert byte_pair_merge(b"abc", ranks) == [ord("a"), 256]
    with pytest.raises(ValueError, match="no token for byte"):
        byte_pair_merge(b"\xff", {b"a": 0})


def test_found_in_the_hugging_face_cache_layout(tmp_path: Path, monkeypatch):
    snapshot = tmp_path / "hub" / "models--moonshotai--Kimi-K2-Instruct" / "snapshots" / "abc123"
    write_model(snapshot)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    tok = get_tokenizer("moonshotai/Kimi-K2-Instruct")
    assert isinstance(tok, TiktokenTokenizer)
    assert tok.decode(tok.encode("hello world")) == "hello world"
    with pytest.raises(TokenizerUnavailableError, match="tiktoken.model"):
        get_tokenizer("moonshotai/Kimi-K2-Missing")


def test_a_malformed_model_file_names_its_line(tmp_path: Path):
    (tmp_path / "tiktoken.model").write_text("YQ== 0\nnot-base64!! 1\n")
    with pytest.raises(ValueError, match=r"tiktoken.model:2: not a 'base64 rank' pair"):
        load_ranks(tmp_path / "tiktoken.model")


def test_without_a_config_there_are_no_special_tokens(tmp_path: Path):
    write_model(tmp_path / "plain", config=False)
    tok = TiktokenTokenizer.from_directory(tmp_path / "plain")
    assert tok.bos_token_id is None and tok.encode("hello")[0] != 266


def test_the_tiktoken_package_gives_the_same_ids(tmp_path: Path):
    tiktoken = pytest.importorskip("tiktoken")
    ranks = write_model(tmp_path / "m")
    tok = TiktokenTokenizer.from_directory(tmp_path / "m")
    pure = TiktokenTokenizer.from_directory(tmp_path / "m")
    pure._fast = None  # this module's own encoder, as without the package
    reference = tiktoken.Encoding(name="ref", pat_str=PATTERN, mergeable_ranks=ranks,
                                  special_tokens={})
    text = "hello world, héllo wörld! 123 4567 it's\n\n  done"
    expected = reference.encode_ordinary(text)
    assert tok.encode(text, add_special_tokens=False) == expected
    assert pure.encode(text, add_special_tokens=False) == expected


def test_the_stdlib_pattern_splits_like_the_exact_one():
    regex = pytest.importorskip("regex")
    import re

    from tinkex.tiktoken_tokenizer import STDLIB_PATTERN

    text = "Hello, wörld_x 12345 it's  a\ttest!!\n\n  __init__ €42 ünï"
    assert re.findall(STDLIB_PATTERN, text) == regex.findall(PATTERN, text)
