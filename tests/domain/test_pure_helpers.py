"""Domain helpers that need no server: tinker paths, tokenizers, chunking and metric reduction."""

from __future__ import annotations

import pytest

from tinkex import types as T
from tinkex.chunking import combine_metrics, combine_outputs, split_batch
from tinkex.paths import TinkerPath, TinkerPathError
from tinkex.tokenizers import (
    ByteTokenizer,
    TokenizerUnavailableError,
    get_tokenizer,
    tokenizer_name,
)


def test_tinker_path_with_colons_in_the_run_id():
    p = TinkerPath.parse("tinker://b89f6676-49c4:train:0/weights/final")
    assert (p.training_run_id, p.kind, p.name) == ("b89f6676-49c4:train:0", "weights", "final")
    assert p.checkpoint_id == "weights/final" and p.checkpoint_type == "training"
    assert str(p) == "tinker://b89f6676-49c4:train:0/weights/final"
    assert TinkerPath.parse("tinker://r/sampler_weights/s1").checkpoint_type == "sampler"


@pytest.mark.parametrize("bad,why", [
    ("http://r/weights/x", "must start with 'tinker://'"),
    ("tinker://r/weights", "3 parts after the scheme, got 2"),
    ("tinker://r/weights/x/y", "got 4"),
    ("tinker://r/model/x", "unknown checkpoint kind 'model'"),
    ("tinker:///weights/x", "empty training run id"),
    ("tinker://r/weights/", "empty checkpoint name"),
    (None, "must be a string"),
])
def test_malformed_tinker_paths_say_why(bad, why):
    with pytest.raises(TinkerPathError, match=why.replace("(", r"\(").replace(")", r"\)")):
        TinkerPath.parse(bad)


def test_byte_tokenizer_round_trip_and_specials():
    tok = ByteTokenizer()
    ids = tok.encode("héllo", add_special_tokens=False)
    assert ids == list("héllo".encode()) and tok.decode(ids) == "héllo"
    assert tok.encode("a") == [256, 97]  # like a Hugging Face tokenizer: <bos> by default
    assert tok.decode([104, 105, 257], skip_special_tokens=True) == "hi"
    assert tok.decode([104, 257]) == "h<eos>"
    assert (tok.bos_token_id, tok.eos_token_id) == (256, 257)


def test_tokenizer_choice():
    assert isinstance(get_tokenizer("tinkex/byte-tokenizer"), ByteTokenizer)
    assert isinstance(get_tokenizer(None, "tinkex/tiny-lm"), ByteTokenizer)
    assert tokenizer_name("Qwen/Qwen3-8B:rev", None) == "Qwen/Qwen3-8B"
    assert tokenizer_name(None, "org/model/variant") == "org/model"


def test_missing_hf_tokenizer_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(TokenizerUnavailableError, match="tokenizer.json") as info:
        get_tokenizer("Qwen/Qwen3-8B")
    assert str(tmp_path) in str(info.value)


def _datum(n_tokens: int) -> T.Datum:
    return T.Datum(model_input=list(range(n_tokens)),
                   loss_fn_inputs={"target_tokens": list(range(n_tokens)),
                                   "weights": [1.0] * n_tokens})


def test_split_batch_by_count_and_bytes():
    data = [_datum(10) for _ in range(5)]  # 10 tokens + 20 elements = 300 bytes each
    assert [len(c) for c in split_batch(data, max_len=2)] == [2, 2, 1]
    assert [len(c) for c in split_batch(data, max_bytes=650)] == [2, 2, 1]
    big = [_datum(1000), _datum(1)]
    assert [len(c) for c in split_batch(big, max_bytes=100)] == [1, 1]  # oversized alone
    assert sum(split_batch(data), []) == data
    with pytest.raises(ValueError, match="No data"):
        split_batch([])


def test_metric_reductions():
    a = {"loss:sum": 1.0, "acc:mean": 0.5, "lo:min": 3, "hi:max": 3, "s:slack": 1.0,
         "h:hash2": float(2**63), "u:unique": 7, "only_first:sum": 1}
    b = {"loss:sum": 2.0, "acc:mean": 1.0, "lo:min": 1, "hi:max": 9, "s:slack": 4.0,
         "h:hash2": float(2**63), "u:unique": 8}
    out = combine_metrics([a, b], [1, 3])
    assert out["loss:sum"] == 3.0
    assert out["acc:mean"] == pytest.approx((0.5 * 1 + 1.0 * 3) / 4)
    assert (out["lo:min"], out["hi:max"]) == (1, 9)
    assert out["s:slack"] == pytest.approx(4.0 - (1.0 + 12.0) / 4)
    assert out["h:hash2"] == 0.0  # 2**63 + 2**63 wraps to 0 mod 2**64
    assert (out["u:unique"], out["u:unique_2"]) == (7, 8)
    assert "only_first:sum" not in out
    with pytest.raises(ValueError, match="one colon"):
        combine_metrics([{"loss": 1.0}, {"loss": 2.0}], [1, 1])


def test_combine_outputs_keeps_order():
    def out(vals, loss):
        return T.ForwardBackwardOutput(
            loss_fn_output_type="ArrayRecord",
            loss_fn_outputs=[{"logprobs": T.TensorData.from_list([v], "float32")} for v in vals],
            metrics={"loss:sum": loss})
    combined = combine_outputs([out([1, 2], 1.0), out([3], 2.0)])
    assert [o["logprobs"].data[0] for o in combined.loss_fn_outputs] == [1, 2, 3]
    assert combined.metrics == {"loss:sum": 3.0}


def test_tinker_log_sets_the_tinkex_log_level():
    import logging

    from tinkex._context import configure_logging

    logger = logging.getLogger("tinkex")
    level, handlers = logger.level, list(logger.handlers)
    try:
        configure_logging({"TINKER_LOG": "debug"}, "TINKER_LOG")
        assert logger.level == logging.DEBUG
        assert any(isinstance(h, logging.StreamHandler) for h in logger.handlers)
        configure_logging({}, "TINKER_LOG")  # unset: unchanged, quiet by default
        assert logger.level == logging.DEBUG
    finally:
        logger.setLevel(level)
        logger.handlers[:] = handlers


def test_hugging_face_tokenizer_from_a_local_cache(tmp_path, monkeypatch):
    tokenizers = pytest.importorskip("tokenizers")
    from tinkex.tokenizers import HuggingFaceTokenizer

    vocab = {"<s>": 0, "</s>": 1, "[UNK]": 2, "hello": 3, "world": 4}
    inner = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    inner.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    inner.decoder = tokenizers.decoders.WordPiece()
    snapshot = tmp_path / "hub" / "models--acme--tiny" / "snapshots" / "rev1"
    snapshot.mkdir(parents=True)
    inner.save(str(snapshot / "tokenizer.json"))
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)

    tok = get_tokenizer("acme/tiny:some-suffix")
    assert isinstance(tok, HuggingFaceTokenizer)
    assert tok.encode("hello world") == [3, 4] and tok.decode([3, 4]) == "hello world"
    assert (tok.bos_token_id, tok.eos_token_id) == (0, 1)
    assert get_tokenizer(None, "acme/tiny/variant").encode("world") == [4]


def test_the_byte_tokenizer_files_load_with_the_tokenizers_package(tmp_path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from tinkex.tokenizers import byte_tokenizer_files, is_byte_tokenizer_dir

    for name, content in byte_tokenizer_files().items():
        (tmp_path / name).write_text(content)
    assert is_byte_tokenizer_dir(tmp_path)
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    ours = ByteTokenizer()
    for text in ("hé<llo>", "", "\x00\xff 日本"):
        assert hf.encode(text).ids == ours.encode(text)
        assert hf.encode(text, add_special_tokens=False).ids == ours.encode(
            text, add_special_tokens=False)
        assert hf.decode(ours.encode(text), skip_special_tokens=True) == text
    assert isinstance(get_tokenizer(str(tmp_path)), ByteTokenizer)


def test_a_poll_interval_is_read_from_the_document():
    from tinkex._spec import load_operation_table

    # export_session_trace is asked about again at the manifest's interval
    table = load_operation_table()
    assert table["export_session_trace"].poll_interval == 5.0
    assert table["list_checkpoints"].poll_interval is None
