"""``tinkex sample`` against a real emulator."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import Invoke, Seeded, assert_one_error_line

BASE = ("sample", "--base-model", "tinkex/tiny-lm", "--max-tokens", "12")


def test_same_seed_same_output(invoke: Invoke):
    first = invoke(*BASE, "--prompt", "hello", "--seed", "7")
    second = invoke(*BASE, "--prompt", "hello", "--seed", "7")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == second.stdout and first.stdout.strip()
    a = json.loads(invoke(*BASE, "--prompt", "hello", "--seed", "7", "--json").stdout)
    b = json.loads(invoke(*BASE, "--prompt", "hello", "--seed", "7", "--json").stdout)
    assert a == b
    assert a["samples"][0]["text"] + "\n" == first.stdout


def test_json_output_and_several_samples(invoke: Invoke):
    result = invoke(*BASE, "--prompt", "abc", "--num-samples", "3", "--seed", "1",
                    "--temperature", "0.7", "--top-k", "50", "--top-p", "0.9", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == "tinkex/tiny-lm" and data["prompt_tokens"] == 4  # <bos> + "abc"
    assert len(data["samples"]) == 3
    for sample in data["samples"]:
        assert len(sample["tokens"]) <= 12 and sample["stop_reason"] in ("length", "stop")
        assert len(sample["logprobs"]) == len(sample["tokens"])
    text = invoke(*BASE, "--prompt", "abc", "--num-samples", "2", "--seed", "1")
    assert text.stdout.count("--- sample ") == 2


def test_prompt_from_file_and_stdin(invoke: Invoke, tmp_path: Path):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("hello", encoding="utf-8")
    inline = invoke(*BASE, "--prompt", "hello", "--seed", "3")
    from_file = invoke(*BASE, "--prompt-file", str(prompt), "--seed", "3")
    from_stdin = invoke(*BASE, "--prompt-file", "-", "--seed", "3", input="hello")
    assert inline.exit_code == 0, inline.stderr
    assert inline.stdout == from_file.stdout == from_stdin.stdout


def test_sample_from_saved_weights(invoke: Invoke, seeded: Seeded):
    result = invoke("sample", "--model-path", seeded.sampler_paths[0], "--prompt", "hi",
                    "--max-tokens", "4", "--seed", "1", "--json", api_key=seeded.api_key)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["model"] == seeded.sampler_paths[0]


def test_usage_errors(invoke: Invoke, tmp_path: Path):
    for args in (("sample", "--prompt", "x"),
                 ("sample", "--base-model", "m", "--model-path", "tinker://r/weights/x",
                  "--prompt", "x"),
                 ("sample", "--base-model", "tinkex/tiny-lm"),
                 ("sample", "--base-model", "tinkex/tiny-lm", "--prompt", "x",
                  "--prompt-file", str(tmp_path / "missing.txt")),
                 (*BASE, "--prompt", "x", "--max-tokens", "0")):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert "Traceback" not in result.output
    assert invoke(*BASE, "--prompt", "").exit_code == 2


def test_unknown_model_and_bad_path(invoke: Invoke):
    assert_one_error_line(invoke("sample", "--base-model", "no/such-model", "--prompt", "x"),
                          "unknown base model", "HTTP 400")
    assert_one_error_line(invoke("sample", "--model-path", "weights.bin", "--prompt", "x"),
                          "not a tinker path")
