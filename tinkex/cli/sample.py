"""``tinkex sample``: generate continuations of a prompt from a base model or saved weights."""

from __future__ import annotations

from typing import IO

import click

from tinkex.types import ModelInput, SamplingParams

from .context import CliState, pass_state
from .output import emit, to_json


def _exactly_one(first: tuple[str, object], second: tuple[str, object]) -> None:
    if (first[1] is None) == (second[1] is None):
        raise click.UsageError(f"pass exactly one of {first[0]} or {second[0]}")


@click.command("sample")
@click.option("--base-model", metavar="MODEL", help="Sample from this base model.")
@click.option("--model-path", metavar="PATH", help="Sample from saved sampler weights (tinker://).")
@click.option("--prompt", metavar="TEXT", help="The prompt text.")
@click.option("--prompt-file", type=click.File("r", encoding="utf-8"), metavar="FILE",
              help="Read the prompt from FILE ('-' for stdin).")
@click.option("--max-tokens", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0.0), default=1.0, show_default=True)
@click.option("--top-k", type=click.IntRange(min=-1), default=-1, show_default=True,
              help="Keep the k most likely tokens (-1 = no limit).")
@click.option("--top-p", type=click.FloatRange(min=0.0, max=1.0, min_open=True), default=1.0,
              show_default=True)
@click.option("--num-samples", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=None, help="Make sampling reproducible.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@pass_state
def command(state: CliState, base_model: str | None, model_path: str | None, prompt: str | None,
            prompt_file: IO[str] | None, max_tokens: int, temperature: float, top_k: int,
            top_p: float, num_samples: int, seed: int | None, as_json: bool) -> None:
    """Sample continuations of a prompt.

    The prompt is encoded with the model's tokenizer and each continuation is
    printed decoded.
    """
    _exactly_one(("--base-model", base_model), ("--model-path", model_path))
    _exactly_one(("--prompt", prompt), ("--prompt-file", prompt_file))
    prompt_text = prompt if prompt is not None else prompt_file.read()  # type: ignore[union-attr]
    if not prompt_text:
        raise click.UsageError("the prompt is empty")
    if model_path is not None:
        from tinkex.paths import TinkerPath

        TinkerPath.parse(model_path)
    sampler = state.service().create_sampling_client(model_path=model_path, base_model=base_model)
    tokenizer = sampler.get_tokenizer()
    tokens = tokenizer.encode(prompt_text)
    params = SamplingParams(max_tokens=max_tokens, temperature=temperature, top_k=top_k,
                            top_p=top_p, seed=seed)
    response = sampler.sample(ModelInput.from_ints(tokens), num_samples, params).result()
    texts = [tokenizer.decode(s.tokens, skip_special_tokens=True) for s in response.sequences]
    if as_json:
        samples = [{"text": text, "tokens": s.tokens, "stop_reason": s.stop_reason,
                    "logprobs": s.logprobs} for text, s in zip(texts, response.sequences,
                                                                 strict=True)]
        emit(to_json({"model": base_model or model_path, "prompt_tokens": len(tokens),
                      "samples": samples}))
        return
    for i, sample_text in enumerate(texts):
        if len(texts) > 1:
            emit(f"--- sample {i + 1} ---")
        emit(sample_text)
