"""The tinkex demo: fine-tune a small model, compare samples, save and download a checkpoint.

Run it with ``make demo``: it starts a local emulator on a free port (its state
in ``DIR/emulator``), runs the whole job against it and stops it, ending with
the run's page in the emulator's web console; ``--serve`` keeps the emulator
running afterwards so that the link opens. The run's charts are written to
``DIR/training_metrics.png`` (drawn by the emulator). With ``TINKER_BASE_URL``
and ``TINKER_API_KEY`` set it runs against that server instead (choose the
model with ``--base-model``).

    python examples/demo.py [--base-model tinkex/tiny-lm] [--steps 60] [--out DIR] [--serve]
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from tqdm import tqdm

import tinkex
from tinkex import types
from tinkex.emulator.run.process import EmulatorProcess

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A journey of a thousand miles begins with a single step.",
    "Rain in the morning gives way to sunshine by noon.",
    "Seven small robots painted the garden fence blue.",
]
PROMPT_WORDS = 3
DEMO_KEY = "tml-demo-key"


@contextmanager
def server(data_dir: Path) -> Iterator[tuple[str, str, EmulatorProcess | None]]:
    """The configured server, or a local emulator (state in ``data_dir``) when none is."""
    url, key = os.environ.get("TINKER_BASE_URL"), os.environ.get("TINKER_API_KEY")
    if url and key:
        print(f"Using the server at {url}")
        yield url, key, None
        return
    print("Starting a local emulator ...", end=" ", flush=True)
    with EmulatorProcess(data_dir) as emulator:
        print(f"listening on {emulator.base_url}")
        yield emulator.base_url, DEMO_KEY, emulator


def serve_until_interrupted(emulator: EmulatorProcess) -> None:
    print(f"Serving the console at {emulator.base_url}/console until Ctrl-C ...", flush=True)
    try:
        while emulator.running:
            time.sleep(1)
    except KeyboardInterrupt:
        pass


def make_datum(tokenizer: Any, text: str) -> types.Datum:
    """Next-token prediction over the whole sentence, from <bos> to <eos>."""
    ids = [*tokenizer.encode(text), tokenizer.eos_token_id]  # encode() starts with <bos>
    return types.Datum(model_input=types.ModelInput.from_ints(ids[:-1]),
                       loss_fn_inputs={
                           "target_tokens": types.TensorData.from_list(ids[1:], "int64"),
                           "weights": types.TensorData.from_list([1.0] * (len(ids) - 1),
                                                                 "float32")})


def continuations(sampler: tinkex.SamplingClient, tokenizer: Any,
                  prompts: Sequence[str]) -> list[str]:
    """Greedy continuation of every prompt (all submitted first, then collected)."""
    params = types.SamplingParams(max_tokens=60, temperature=0.0, stop=None)
    futures = [sampler.sample(types.ModelInput.from_ints(tokenizer.encode(p)), 1, params)
               for p in prompts]
    texts = [tokenizer.decode(f.result().sequences[0].tokens, skip_special_tokens=True)
             for f in futures]
    # an untrained model emits arbitrary bytes: show the unprintable ones as dots
    return ["".join(c if c.isprintable() and c != "\ufffd" else "·" for c in t).strip()
            for t in texts]


def side_by_side(prompts: Sequence[str], before: Sequence[str], after: Sequence[str]) -> str:
    width = 44

    def cut(text: str) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    pw = max(len(p) for p in prompts)
    lines = [f"{'prompt':<{pw}} | {'before training':<{width}} | after training",
             f"{'-' * pw}-+-{'-' * width}-+-{'-' * width}"]
    lines += [f"{p:<{pw}} | {cut(b):<{width}} | {cut(a)}"
              for p, b, a in zip(prompts, before, after, strict=True)]
    return "\n".join(lines)


def sparkline(values: Sequence[float]) -> str:
    bars = "▁▂▃▄▅▆▇█"
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(bars[int((v - lo) / span * (len(bars) - 1))] for v in values)


def server_charts(console_url: str, base_url: str, out: Path) -> Path | None:
    """The run's charts as the emulator's console draws them, or None for another server."""
    if not console_url.startswith(base_url.rstrip("/") + "/console/"):
        return None
    with requests.Session() as browser:  # the console link signs this session in
        response = browser.get(f"{console_url}/metrics.png", timeout=60)
    if response.status_code != 200 or response.headers.get("content-type") != "image/png":
        return None
    path = out / "training_metrics.png"
    path.write_bytes(response.content)
    return path


def plot_losses(losses: Sequence[float], out: Path) -> str:
    """A PNG loss curve when matplotlib is installed, else a text sparkline file."""
    try:
        matplotlib: Any = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        plt: Any = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        path = out / "loss_curve.txt"
        path.write_text(sparkline(losses) + "\n", encoding="utf-8")
        return f"{path} (install matplotlib for a PNG: pip install 'tinkex[plot]')"
    path = out / "loss_curve.png"
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, len(losses) + 1), losses)
    ax.set_xlabel("step")
    ax.set_ylabel("loss per token")
    ax.set_yscale("log")
    ax.set_title("tinkex demo: fine-tuning loss")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def train(training: tinkex.TrainingClient, data: list[types.Datum], steps: int,
          learning_rate: float) -> list[float]:
    tokens = sum(d.model_input.length for d in data)
    adam = types.AdamParams(learning_rate=learning_rate)
    losses: list[float] = []
    with tqdm(total=steps, desc="training", unit="step", file=sys.stderr) as bar:
        for _ in range(steps):
            # submit both, then wait: the server runs them in order
            step = training.forward_backward(data, "cross_entropy")
            update = training.optim_step(adam)
            losses.append(step.result().metrics["loss:sum"] / tokens)
            update.result()
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            bar.update()
    return losses


def run(base_url: str, api_key: str, args: argparse.Namespace, out: Path) -> tuple[int, str]:
    """Train, sample, save and download; the exit status and the run's console link."""
    started = time.monotonic()
    with tinkex.ServiceClient(base_url=base_url, api_key=api_key) as service:
        training = service.create_lora_training_client(base_model=args.base_model, rank=16,
                                                       seed=0)
        tokenizer = training.get_tokenizer()
        print(f"Training run {training.model_id} on {args.base_model}")
        prompts = [" ".join(s.split()[:PROMPT_WORDS]) for s in SENTENCES]
        before = continuations(training.save_weights_and_get_sampling_client(), tokenizer,
                               prompts)

        losses = train(training, [make_datum(tokenizer, s) for s in SENTENCES], args.steps,
                       args.learning_rate)
        after = continuations(training.save_weights_and_get_sampling_client(), tokenizer,
                              prompts)
        print("\n" + side_by_side(prompts, before, after) + "\n")
        print(f"loss per token: {losses[0]:.3f} -> {losses[-1]:.3f}  {sparkline(losses)}")

        saved = training.save_state("demo-final").result()
        print(f"Saved checkpoint {saved.path}")
        rest = service.create_rest_client()
        for ckpt in rest.list_checkpoints(training.model_id).result().checkpoints:
            print(f"  {ckpt.checkpoint_type.value:<8} {ckpt.checkpoint_id:<24} "
                  f"{ckpt.size_bytes or 0:>9,} bytes  {ckpt.time:%Y-%m-%d %H:%M:%S}")
        folder = tinkex.checkpoints.download(rest, saved.path, out / "checkpoints", force=True)
        files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
        print(f"Downloaded and extracted to {folder}: {', '.join(map(str, files))}")
        console_url = training.get_console_url()
        charts = server_charts(console_url, base_url, out)
        print(f"Charts: {charts}" if charts else f"Loss curve: {plot_losses(losses, out)}")

    ratio = losses[-1] / losses[0]
    print(f"Done in {time.monotonic() - started:.1f} s; final loss is {ratio:.1%} of the first.")
    if ratio >= 0.3:
        print("The loss did not fall below 30% of its first value.", file=sys.stderr)
        return 1, console_url
    return 0, console_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-model", default="tinkex/tiny-lm")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--learning-rate", type=float, default=2e-2)
    parser.add_argument("--out", type=Path, default=Path("demo-output"),
                        help="where the charts, the checkpoint and the emulator's state go "
                             "(default: demo-output)")
    parser.add_argument("--serve", action="store_true",
                        help="keep the emulator running at the end, so that the console opens")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with server(out / "emulator") as (base_url, api_key, emulator):
        status, console_url = run(base_url, api_key, args, out)
        if emulator is not None and args.serve:
            print(f"Console: {console_url}")
            serve_until_interrupted(emulator)
            return status
    if emulator is not None:
        print(f"The emulator has stopped; its state stays in {emulator.data_dir}. To open the "
              "link below, run the demo with --serve, or browse the runs again with "
              f"`tinkex emulator serve --data-dir {emulator.data_dir}` and the key {DEMO_KEY}.")
    print(f"Console: {console_url}")
    return status


if __name__ == "__main__":
    sys.exit(main())
