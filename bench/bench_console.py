"""Console page load for a run of 1,000 steps (target: under 300 ms).

The emulator runs as a separate process (as users run it). A run of
``tinkex/micro-lm`` is trained for 1,000 real steps (one forward_backward and
one optim_step each, with a forward pass every 50 steps), so the page draws
1,000-point charts from what the emulator recorded. Timed, each against a
baseline measured in the same run:

- the run page over HTTP (what the server spends: queries, layout, SVG, HTML),
  against ``GET /api/v1/training_runs/{id}`` (a REST read of the same run);
- the charts as a PNG, against the same baseline;
- with Chromium installed, the page in a headless browser from navigation to
  its load event (HTML, stylesheet, layout and paint of the five SVG charts),
  against loading the run list.

Usage: ``python bench/bench_console.py [--steps 1000] [--repeats 20]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import requests
from bench_emulator import Bench  # the same raw HTTP client (this folder is on sys.path)

from tinkex.emulator.run.process import EmulatorProcess

TARGET_MS = 300.0
TEXT = [256, *b"the quick brown fox jumps over the lazy dog"]


def train(api: Bench, steps: int) -> str:
    session = api.call("/api/v1/create_session", {"sdk_version": "bench"})["session_id"]
    model = api.wait(api.call("/api/v1/create_model", {
        "session_id": session, "model_seq_id": 0, "base_model": "tinkex/micro-lm",
        "lora_config": {"rank": 4}}))["model_id"]
    n = len(TEXT) - 1
    data = [{"model_input": {"chunks": [{"type": "encoded_text", "tokens": TEXT[:-1]}]},
             "loss_fn_inputs": {"target_tokens": {"data": TEXT[1:], "dtype": "int64"},
                                "weights": {"data": [1.0] * n, "dtype": "float32"}}}]
    seq = 0
    started = time.perf_counter()
    for step in range(steps):
        pending = []
        if step % 50 == 0:
            seq += 1
            pending.append(api.call("/api/v1/forward", {
                "model_id": model, "seq_id": seq,
                "forward_input": {"data": data, "loss_fn": "cross_entropy"}}))
        seq += 1
        pending.append(api.call("/api/v1/forward_backward", {
            "model_id": model, "seq_id": seq,
            "forward_backward_input": {"data": data, "loss_fn": "cross_entropy"}}))
        seq += 1
        pending.append(api.call("/api/v1/optim_step", {
            "model_id": model, "seq_id": seq, "adam_params": {"learning_rate": 1e-3}}))
        for future in pending:
            api.wait(future)
        if (step + 1) % 250 == 0:
            print(f"  trained {step + 1} steps ({time.perf_counter() - started:.0f} s)",
                  file=sys.stderr)
    return str(model)


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm-up: caches, templates, first allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def report(name: str, times: list[float], baseline: list[float], baseline_name: str) -> float:
    median, base = statistics.median(times), statistics.median(baseline)
    print(f"{name}: median {median * 1000:.1f} ms (min {min(times) * 1000:.1f}, "
          f"max {max(times) * 1000:.1f}; {median / base:.1f}x {baseline_name} at "
          f"{base * 1000:.1f} ms)")
    return median * 1000


def get(http: requests.Session, url: str) -> Callable[[], object]:
    def fetch() -> object:
        response = http.get(url, timeout=60)
        response.raise_for_status()
        return response.content
    return fetch


def browser_load(base_url: str, link: str, run_path: str, repeats: int) -> float | None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "console"))
    from cdp_browser import Browser, find_chromium

    chromium = find_chromium()
    if chromium is None:
        print("browser load: skipped (no Chromium; apt-get install chromium)")
        return None
    browser = Browser(chromium)
    try:
        page = browser.new_page()
        if page.goto(link + "/training_runs") != 200:
            raise RuntimeError("could not sign in to the console")
        run_page = page.goto(f"{base_url}{run_path}")
        assert run_page == 200, run_page
        page_times = timed(lambda: page.goto(f"{base_url}{run_path}"), repeats)
        list_times = timed(lambda: page.goto(f"{base_url}/console/training_runs"), repeats)
        return report("run page in Chromium, navigation to load event", page_times, list_times,
                      "the run list")
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, EmulatorProcess(data_dir) as emulator:
        base_url = emulator.base_url
        api = Bench(base_url)
        print(f"training a run of {args.steps} steps ...", file=sys.stderr)
        model = train(api, args.steps)
        run_path = f"/console/training_runs/{quote(model, safe=':')}"
        link = api.call("/api/v1/client/config", {"sdk_version": "bench"})["console_url"]
        html = api.http.get(base_url + run_path, timeout=60).text
        assert html.count(f'data-count="{args.steps}"') == 5, "the charts lack steps"
        print(f"run page: {len(html) / 1024:.0f} KB of HTML for {args.steps} steps")
        rest = timed(get(api.http, f"{base_url}/api/v1/training_runs/{quote(model, safe=':')}"),
                     args.repeats)
        server = report("run page over HTTP", timed(get(api.http, base_url + run_path),
                                                    args.repeats), rest, "the REST read")
        report("charts PNG over HTTP", timed(get(api.http, base_url + run_path + "/metrics.png"),
                                             args.repeats), rest, "the REST read")
        loaded = browser_load(base_url, link, run_path, args.repeats)
        worst = max(server, loaded or 0.0)
        verdict = "meets" if worst < TARGET_MS else "MISSES"
        print(f"page load {worst:.0f} ms {verdict} the {TARGET_MS:.0f} ms target "
              f"({worst / TARGET_MS:.2f} of it)")


if __name__ == "__main__":
    main()
