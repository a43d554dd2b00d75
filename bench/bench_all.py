"""``make bench``: tinkex beside raw requests and the official SDK, one table of ratios.

Everything runs in one go against the same servers, so a busy machine hurts
every client alike: a probe server (``bench/probe_server.py``, its own process,
answers at once) for client overhead, the emulator for end to end, and a sink
for ``forward_backward`` bodies. The clients are tinkex, plain
``requests.Session`` calls (the floor), and the official SDK 0.24.1 (the newest
all-JSON release) and 0.38.0 (protobuf), from the venvs the conformance tests
cache (built with their helper when missing). Each client runs in its own
process (``bench/bench_clients.py``); rounds alternate the clients and the table
shows medians.

Every ratio is tinkex's cost over the other's (time, time per sample, or
memory): below 1.00 tinkex is ahead. A row with a target says whether it held.

    .venv/bin/python bench/bench_all.py [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import bench_fwdbwd_encoding as fwdbwd  # noqa: E402

OFFICIAL = ("0.24.1", "0.38.0")
CLIENTS = ("tinkex", "raw", *OFFICIAL)
PYCACHE = ROOT / ".bench" / "pycache"
IMPORTS = {"tinkex": "import tinkex", "raw": "import requests; from pydantic import BaseModel",
           "0.24.1": "import tinker", "0.38.0": "import tinker"}
FIRST_USE = {"tinkex": "import tinkex; tinkex.ServiceClient; tinkex.types.ModelInput",
             "raw": IMPORTS["raw"],
             "0.24.1": "import tinker; tinker.ServiceClient; tinker.types.ModelInput",
             "0.38.0": "import tinker; tinker.ServiceClient; tinker.types.ModelInput"}
"""``import tinkex`` defers its public names to their first use: this is what that costs."""
SEQ_BYTES = 31_330  # one 2048-token sequence of the forward_backward case, as protobuf


# ---- the table ---------------------------------------------------------------------------------


@dataclass
class Row:
    """One measure: per-client values, and how tinkex's cost compares (with targets)."""

    name: str
    unit: str
    values: dict[str, list[float]] = field(default_factory=dict)
    higher_is_better: bool = False
    targets: dict[str, float] = field(default_factory=dict)  # column -> max ratio
    absolute: tuple[float, str] | None = None  # (max tinkex value, label)

    def add(self, client: str, value: float) -> None:
        self.values.setdefault(client, []).append(value)

    def median(self, client: str) -> float | None:
        values = self.values.get(client)
        return statistics.median(values) if values else None

    def ratio(self, other: str) -> float | None:
        mine, theirs = self.median("tinkex"), self.median(other)
        if mine is None or theirs is None or not mine or not theirs:
            return None
        return theirs / mine if self.higher_is_better else mine / theirs


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "ms":
        return f"{value * 1e3:.2f}"
    if unit == "s":
        return f"{value:.3f}"
    if unit == "MiB":
        return f"{value / 2**20:.1f}"
    return f"{value:.0f}"


def print_table(rows: list[Row]) -> bool:
    columns = ("raw", *OFFICIAL)
    header = (f"{'measure':<44} {'unit':>5} {'tinkex':>8} {'raw':>8} {'0.24.1':>8} {'0.38.0':>8}"
              f" {'÷raw':>6} {'÷0.24.1':>8} {'÷0.38.0':>8}  targets")
    print("\n" + header)
    print("-" * len(header))
    all_held = True
    for row in rows:
        cells = [fmt(row.median(c), row.unit) for c in CLIENTS]
        ratios = []
        verdicts = []
        for column in columns:
            r = row.ratio(column)
            ratios.append("–" if r is None else f"{r:.2f}")
            target = row.targets.get(column)
            if target is not None and r is not None:
                held = r <= target
                all_held &= held
                verdicts.append(f"÷{column} ≤{target:g} {'held' if held else 'MISSED'}")
        if row.absolute is not None:
            limit, label = row.absolute
            mine = row.median("tinkex")
            held = mine is not None and mine <= limit
            all_held &= held
            verdicts.append(f"{label} {'held' if held else 'MISSED'}")
        print(f"{row.name:<44} {row.unit:>5} {cells[0]:>8} {cells[1]:>8} {cells[2]:>8} "
              f"{cells[3]:>8} {ratios[0]:>6} {ratios[1]:>8} {ratios[2]:>8}  "
              + "; ".join(verdicts))
    print("\nratios: tinkex's cost / the other's (time, time per sample, memory); "
          "below 1.00 tinkex is ahead")
    return all_held


# ---- processes ---------------------------------------------------------------------------------


def official_python(version: str) -> Path:
    """The conformance tests' cached venv for ``version``, built by their helper if missing."""
    sys.path.insert(0, str(ROOT / "tests" / "conformance"))
    from test_official_sdk import official_sdk_python  # waits on the venv's lock file

    return Path(official_sdk_python(version))


def child_env() -> dict[str, str]:
    """Bytecode cached (as in an installed package) outside the tree, for every interpreter."""
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("TINKER_")}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def run_json(command: list[str], timeout: float = 900) -> Any:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=child_env())
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class ProbeServer:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(BENCH / "probe_server.py")],
                                     stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def client_command(pythons: dict[str, Path], client: str, url: str, cases: list[str],
                   model: str | None = None) -> list[str]:
    kind = client if client in ("tinkex", "raw") else "official"
    command = [str(pythons[client]), str(BENCH / "bench_clients.py"), "--client", kind,
               "--url", url]
    if model:
        command += ["--model", model]
    return command + cases


def import_probe(python: Path, statement: str) -> tuple[float, float]:
    # VmHWM, not ru_maxrss: the latter keeps the peak of the forked parent across exec
    code = ("import time\nt = time.perf_counter()\n" + statement +
            "\nwall = time.perf_counter() - t\n"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
            "print(wall, int(hwm.split()[1]) * 1024)")
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          check=True, env=child_env(), cwd=tempfile.gettempdir())
    wall, rss = done.stdout.split()
    return float(wall), float(rss)


# ---- the measures ------------------------------------------------------------------------------


def probe_rows(pythons: dict[str, Path], url: str, rounds: int, quick: bool) -> list[Row]:
    scale = (64, 256, 1024) if quick else (64, 256, 1024, 4096)
    rows = {
        "small@300": Row("small sync call (get_server_capabilities)", "ms",
                         targets={"raw": 1.0, "0.24.1": 1.0, "0.38.0": 1.0}),
        "seq@200": Row("sample submit + result, sequential", "ms",
                       targets={"raw": 1.15, "0.24.1": 1.0, "0.38.0": 1.0}),
        "inflight@1024": Row("1,024 samples in flight, sync", "/s", higher_is_better=True,
                             targets={"raw": 1.0, "0.24.1": 1.0, "0.38.0": 1.0}),
        "inflight_async@1024": Row("1,024 samples in flight, async (raw: threads)", "/s",
                                   higher_is_better=True,
                                   targets={"raw": 1.0, "0.24.1": 1.0, "0.38.0": 1.0}),
        "latency@100": Row("future completion -> result() returns", "ms",
                           targets={"0.24.1": 1.0, "0.38.0": 1.0}),
    }
    for n in scale:
        rows[f"inflight@{n}#scale"] = Row(f"  scale: {n:,} samples in flight, sync", "/s",
                                          higher_is_better=True)
    paired = ("inflight@1024", "inflight_async@1024")
    for r in range(rounds):
        order = CLIENTS[r % len(CLIENTS):] + CLIENTS[:r % len(CLIENTS)]
        for client in order:
            cases = [k.split("#")[0] for k in rows
                     if not (client == "raw" and k.startswith("inflight_async"))]
            if client != "tinkex" and client != "raw":
                cases = [c for c in cases if not c.startswith("inflight@4096")]
            else:  # measured below, in alternating pairs
                cases = [c for c in cases if c not in paired]
            cases = list(dict.fromkeys(cases))
            started = time.monotonic()
            result = run_json(client_command(pythons, client, url, cases))
            for key, row in rows.items():
                value = result.get(key.split("#")[0])
                if value is not None:
                    row.add(client, value)
            print(f"  round {r + 1}: {client} ({time.monotonic() - started:.0f} s)", flush=True)
    # tinkex against raw at 1,024 in flight: short processes in alternating order, each the
    # median of three repeats, so that load from elsewhere on the machine hits both alike.
    for r in range(2 * rounds + 1):
        for client in (("tinkex", "raw") if r % 2 == 0 else ("raw", "tinkex")):
            cases = [f"{c}x3" for c in paired if client == "tinkex" or "async" not in c]
            result = run_json(client_command(pythons, client, url, cases))
            for case in paired:
                if f"{case}x3" in result:
                    rows[case].add(client, result[f"{case}x3"])
                    if case == "inflight@1024":
                        rows[f"{case}#scale"].add(client, result[f"{case}x3"])
        print(f"  pair {r + 1}: tinkex and raw at 1,024 in flight", flush=True)
    rows["inflight_async@1024"].values["raw"] = list(rows["inflight@1024"].values.get("raw", []))
    return list(rows.values())


def emulator_rows(pythons: dict[str, Path], rounds: int) -> list[Row]:
    from tinkex.emulator.run.process import EmulatorProcess

    # The emulator's numpy model sets these rates (about 8 ms a sample on micro-lm): the
    # clients' differences drown in the server's, so the rows are shown without a target.
    seq = Row("emulator: sample sequential (server compute in)", "ms")
    flight = Row("emulator: 256 samples in flight, sync", "/s", higher_is_better=True)
    clients = ("tinkex", *OFFICIAL)
    with tempfile.TemporaryDirectory() as tmp, \
            EmulatorProcess(Path(tmp) / "data", args=["--workers", "2"]) as emulator:
        for r in range(rounds):
            for client in clients[r % 3:] + clients[:r % 3]:
                result = run_json(client_command(pythons, client, emulator.base_url,
                                                 ["seq@40", "inflight@256"],
                                                 model="tinkex/micro-lm"))
                seq.add(client, result["seq@40"])
                flight.add(client, result["inflight@256"])
            print(f"  emulator round {r + 1} done", flush=True)
    return [seq, flight]


def fwdbwd_rows(pythons: dict[str, Path], rounds: int, quick: bool) -> list[Row]:
    official = pythons["0.38.0"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), fwdbwd._Sink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink = f"http://127.0.0.1:{server.server_address[1]}"
    rows: list[Row] = []

    def measure(row: Row, sequences: int, tinkex_case: str, official_case: str,
                metric: str = "time", count: int = max(rounds, 5)) -> None:
        args = argparse.Namespace(repeats=5, sequences=sequences, tokens=2048)
        for r in range(count):
            pair = [("tinkex", Path(sys.executable), tinkex_case),
                    ("0.38.0", official, official_case)]
            for client, python, case in pair if r % 2 == 0 else pair[::-1]:
                result = fwdbwd.run_child(python, case, sink, metric, args)
                row.add(client, result["seconds"] if metric == "time" else result["rss_growth"])

    try:
        proto = Row("forward_backward 256x2048 protobuf encode+send", "ms", targets={"0.38.0": 1.0})
        measure(proto, 256, "tinkex-protobuf", "official-protobuf")
        zstd = Row("  same with zstd", "ms", targets={"0.38.0": 1.0})
        measure(zstd, 256, "tinkex-protobuf-zstd", "official-protobuf-zstd")
        memory = Row("  peak RSS growth of one encode+send", "MiB", targets={"0.38.0": 1.0})
        measure(memory, 256, "tinkex-protobuf", "official-protobuf", metric="rss", count=1)
        rows += [proto, zstd, memory]
        for mb in (1, 4, 16):
            row = Row(f"  scale: forward_backward {mb} MB body", "ms")
            measure(row, max(1, mb * 2**20 // SEQ_BYTES), "tinkex-protobuf", "official-protobuf",
                    count=1 if quick else 2)
            rows.append(row)
    finally:
        server.shutdown()
        server.server_close()
    return rows


def import_rows(pythons: dict[str, Path], rounds: int) -> list[Row]:
    wall = Row("import tinkex (names load on first use), wall", "s", targets={"0.24.1": 1.0, "0.38.0": 1.0},
               absolute=(0.20, "≤0.20 s"))
    rss = Row("  same, peak RSS", "MiB", targets={"0.24.1": 1.0, "0.38.0": 1.0},
              absolute=(45 * 2**20, "≤45 MiB"))
    # The client stack itself (engine, clients, every wire type) loads on first use: its cost
    # is compared with the official SDK's, which loads the same at import.
    first_wall = Row("import + ServiceClient and types resolved, wall", "s",
                     targets={"0.24.1": 1.0, "0.38.0": 1.0})
    first_rss = Row("  same, peak RSS", "MiB", targets={"0.24.1": 1.0, "0.38.0": 1.0},
                    absolute=(45 * 2**20, "≤45 MiB"))
    for client in CLIENTS:  # once each first: bytecode compiled into the cache
        import_probe(pythons[client], FIRST_USE[client])
    for _ in range(rounds):
        for client in CLIENTS:
            for statement, w_row, r_row in ((IMPORTS[client], wall, rss),
                                            (FIRST_USE[client], first_wall, first_rss)):
                w, r = import_probe(pythons[client], statement)
                w_row.add(client, w)
                r_row.add(client, r)
    return [wall, rss, first_wall, first_rss]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer scale points and rounds")
    parser.add_argument("--only", choices=("import", "probe", "fwdbwd", "emulator"),
                        action="append", help="run only these parts (repeatable)")
    args = parser.parse_args()
    PYCACHE.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    start_load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    pythons: dict[str, Path] = {"tinkex": Path(sys.executable), "raw": Path(sys.executable)}
    for version in OFFICIAL:
        pythons[version] = official_python(version)
    print(f"official SDKs: {', '.join(str(pythons[v]) for v in OFFICIAL)}", flush=True)

    steps: list[tuple[str, Callable[[], list[Row]]]] = []
    probe = ProbeServer()
    try:
        steps = [
            ("import", lambda: import_rows(pythons, 5 if not args.quick else 3)),
            ("probe", lambda: probe_rows(pythons, probe.url, args.rounds, args.quick)),
            ("fwdbwd", lambda: fwdbwd_rows(pythons, args.rounds, args.quick)),
            ("emulator", lambda: emulator_rows(pythons, args.rounds)),
        ]
        steps = [(name, step) for name, step in steps if not args.only or name in args.only]
        rows: list[Row] = []
        for name, step in steps:
            print(f"== {name}", flush=True)
            rows += step()
    finally:
        probe.close()
    held = print_table(rows)
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{'every target held' if held else 'some targets MISSED'} "
          f"({time.monotonic() - started:.0f} s, {os.cpu_count()} cores, load average at the "
          f"start {start_load}, at the end {load})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
