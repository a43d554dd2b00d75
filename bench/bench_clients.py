"""One client measure in this interpreter: tinkex, raw requests, or the official ``tinker``.

Run by ``bench/bench_all.py`` (``make bench``) under tinkex's venv or an official
SDK's cached conformance venv; prints one JSON object. Nothing here imports
tinkex unless the client is tinkex, so the official venvs need only ``tinker``.

    python bench/bench_clients.py --client {tinkex,official,raw} --url URL CASE@N[xR] ...

Cases (``N`` is the number of calls): ``small`` (sequential
``get_server_capabilities``), ``seq`` (sample then ``result()``, one at a
time), ``inflight`` / ``inflight_async`` (N samples submitted at once, then
every result; async with ``asyncio.gather``), ``latency`` (the server holds
each retrieve; seconds from its answer being written to ``result()``
returning, per sample). Values are seconds per call (median of blocks), samples
per second, or seconds. ``xR`` repeats a case R times and gives the median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MODEL = "tinkex/tiny-lm"
PROMPT = [72, 101, 108, 108, 111]
API_KEY = "tml-bench-probe"


# ---- clients: each gives small(), sample() -> future-like, and async sampling -----------------


class SDKClient:
    """tinkex or official tinker: the same public API (``import tinkex as tinker``)."""

    def __init__(self, tinker: Any, url: str) -> None:
        self.tinker = tinker
        self.service = tinker.ServiceClient(base_url=url, api_key=API_KEY)
        sampler = self.service.create_sampling_client(base_model=MODEL)
        # official 0.38 answers a future of the client (usable as one, with a warning)
        self.sampler = sampler.result() if hasattr(sampler, "result") else sampler
        self.prompt = tinker.types.ModelInput.from_ints(PROMPT)
        self.params = tinker.types.SamplingParams(max_tokens=4, temperature=1.0)

    def small(self) -> Any:
        with warnings.catch_warnings():  # official 0.38 deprecates it for RestClient's twin
            warnings.simplefilter("ignore", FutureWarning)
            return self.service.get_server_capabilities()

    def submit(self) -> Any:
        return self.sampler.sample(prompt=self.prompt, num_samples=1, sampling_params=self.params)

    def sample(self) -> Any:
        return self.submit().result()

    async def sample_async(self) -> Any:
        return await self.sampler.sample_async(prompt=self.prompt, num_samples=1,
                                               sampling_params=self.params)

    def inflight(self, n: int) -> None:
        futures = [self.submit() for _ in range(n)]
        for future in futures:
            future.result()

    def close(self) -> None:
        if self.tinker.__name__ == "tinkex":  # the official client has no plain close()
            self.service.close()


class RawClient:
    """requests.Session: the same requests on the wire, JSON parsed, nothing validated."""

    def __init__(self, url: str) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        self.url = url
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=128,
                                                  max_retries=0))
        self.headers = {"X-API-Key": API_KEY}
        self.body = {"sampling_session_id": "probe-session:sample:0", "seq_id": 0,
                     "num_samples": 1, "prompt": {"chunks": [{"tokens": PROMPT,
                                                              "type": "encoded_text"}]},
                     "sampling_params": {"max_tokens": 4, "temperature": 1.0},
                     "prompt_logprobs": False, "topk_prompt_logprobs": 0}

    def small(self) -> Any:
        return self.session.get(self.url + "/api/v1/get_server_capabilities",
                                headers=self.headers, timeout=(5, 60)).json()

    def sample(self) -> Any:
        handle = self.session.post(self.url + "/api/v1/asample", json=self.body,
                                   headers=self.headers, timeout=(5, 60)).json()
        while True:
            answer = self.session.post(self.url + "/api/v1/retrieve_future",
                                       json={"request_id": handle["request_id"],
                                             "allow_metadata_only": True},
                                       headers=self.headers, timeout=(5, 60)).json()
            if answer.get("type") != "try_again":
                return answer

    def inflight(self, n: int, threads: int = 64) -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda _: self.sample(), range(n)))

    def close(self) -> None:
        self.session.close()


# ---- measures ---------------------------------------------------------------------------------


def per_call(fn: Callable[[], Any], n: int, blocks: int = 5) -> float:
    """Median over ``blocks`` blocks of seconds per call (after a warm-up)."""
    for _ in range(max(5, n // 10)):
        fn()
    times = []
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(n // blocks):
            fn()
        times.append((time.perf_counter() - start) / (n // blocks))
    return statistics.median(times)


def throughput(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def latency(client: Any, url: str, n: int, hold: float = 0.005) -> float:
    """Median seconds from the server writing a held retrieve answer to ``result()`` returning."""
    import urllib.request

    def probe(path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        with urllib.request.urlopen(urllib.request.Request(url + path, data=data)) as r:
            return json.loads(r.read())

    for _ in range(5):
        client.sample()
    probe("/probe/hold", {"seconds": hold})
    try:
        ends = []
        for _ in range(n):
            client.sample()
            ends.append(time.monotonic())
        stamps = probe("/probe/stamps")
    finally:
        probe("/probe/hold", {"seconds": 0})
    # each sample's answer is the last retrieve answer written before it returned
    gaps = [end - max(s for s in stamps if s <= end) for end in ends]
    return statistics.median(gaps)


def run_case(client: Any, url: str, case: str, n: int) -> float:
    if case == "small":
        return per_call(client.small, n)
    if case == "seq":
        return per_call(client.sample, n)
    if case == "inflight":
        client.inflight(min(n, 64))  # warm up connections and threads
        return throughput(lambda: client.inflight(n), n)
    if case == "inflight_async":
        import asyncio

        async def gather(count: int) -> None:
            await asyncio.gather(*(client.sample_async() for _ in range(count)))

        asyncio.run(gather(min(n, 64)))
        return throughput(lambda: asyncio.run(gather(n)), n)
    if case == "latency":
        return latency(client, url, n)
    raise SystemExit(f"unknown case {case!r}")


def main() -> None:
    global MODEL
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", choices=("tinkex", "official", "raw"), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("cases", nargs="+", help="CASE@N")
    args = parser.parse_args()
    MODEL = args.model
    if args.client == "raw":
        client: Any = RawClient(args.url)
    else:
        tinker = __import__("tinkex" if args.client == "tinkex" else "tinker")
        client = SDKClient(tinker, args.url)
    results = {}
    try:
        for spec in args.cases:
            case, _, n = spec.partition("@")
            n, _, repeats = n.partition("x")
            results[spec] = statistics.median(
                run_case(client, args.url, case, int(n or 200)) for _ in range(int(repeats or 1)))
    finally:
        client.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
