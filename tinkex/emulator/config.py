"""Emulator settings: one dataclass, filled from command-line flags and ``TINKEX_EMULATOR_*``.

Every flag has an environment variable of the same name (``--fault-5xx-rate`` ->
``TINKEX_EMULATOR_FAULT_5XX_RATE``) so chaos settings can be switched on for a
whole test run without touching the command that starts the emulator. A flag
given on the command line wins over the environment. ``--alias`` repeats; its
variable holds a comma-separated list.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "TINKEX_EMULATOR_"
QUEUE_STATES = ("paused_rate_limit", "paused_capacity")


@dataclass(frozen=True)
class FaultConfig:
    """Seeded fault injection; every rate is a probability per request in [0, 1]."""

    seed: int = 0
    rate_5xx: float = 0.0
    rate_429: float = 0.0
    drop_rate: float = 0.0
    lose_rate: float = 0.0
    """Share of API requests that run, then lose their answer (the connection drops)."""
    latency: float = 0.0
    hold: float = 0.0
    pause_state: str | None = None
    pause_seconds: float = 0.0
    refuse_jwt_every: int = 0
    corrupt_after: int = 0
    """A run is marked corrupted after this many optimizer steps (0: never)."""


@dataclass(frozen=True)
class Prices:
    """The price table billing estimates use: USD per million tokens, per GB-month stored."""

    training: float = 0.40
    sampling_prefill: float = 0.10
    sampling_prefill_cached: float = 0.02
    sampling_sample: float = 0.30
    storage_gb_month: float = 0.05


def _prices(text: str) -> Prices:
    """``training=0.4,sampling_sample=0.3,...`` -> Prices (unnamed entries keep defaults)."""
    values: dict[str, float] = {}
    names = set(Prices.__dataclass_fields__)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, number = item.partition("=")
        if not sep or name.strip() not in names:
            raise argparse.ArgumentTypeError(
                f"a price is NAME=USD with NAME one of {', '.join(sorted(names))}, got {item!r}")
        try:
            values[name.strip()] = float(number)
        except ValueError:
            raise argparse.ArgumentTypeError(f"price {item!r}: not a number") from None
        if values[name.strip()] < 0:
            raise argparse.ArgumentTypeError(f"price {item!r}: must be >= 0")
    return Prices(**values)


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything the emulator needs to run; see ``python -m tinkex.emulator --help``."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    aliases: Mapping[str, str] = field(default_factory=dict)
    poll_hold: float = 20.0
    future_retention: float = 3600.0
    gap_timeout: float = 30.0
    workers: int = 2
    archive_url_ttl: float = 900.0
    console_link_ttl: float = 86400.0
    log_level: str = "warning"
    proto_fwdbwd: bool = False
    proto_compress_fwdbwd: bool = False
    sample_seed: int | None = None
    jwt_auth: bool = True
    jwt_ttl: float = 3600.0
    retrieve_futures: bool = False
    join_sampling_session: bool = True
    custom_loss_server_side: bool = False
    prices: Prices = field(default_factory=Prices)
    max_body_bytes: int = 64 * 2**20
    """Larger request bodies are refused with 413 before they are parsed."""
    hf_cache: str = "auto"
    """Where to install the byte tokenizer under the models' names: auto, off or a directory."""
    faults: FaultConfig = field(default_factory=FaultConfig)

    @classmethod
    def given(cls, config: EmulatorConfig | None, settings: dict[str, Any]) -> EmulatorConfig:
        """``config`` with ``settings`` applied, or a config made from ``settings`` alone."""
        if config is None:
            return cls(**{**settings, "data_dir": Path(settings["data_dir"])})
        return replace(config, **settings) if settings else config


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a rate must lie in [0, 1], got {text}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"seconds must be >= 0, got {text}")
    return value


def _flag(text: str) -> bool:
    """A switch that may also be spelled with a value (so it works as an env variable)."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _alias(text: str) -> tuple[str, str]:
    name, sep, target = text.partition("=")
    if not sep or not name.strip() or not target.strip():
        raise argparse.ArgumentTypeError(f"an alias is NAME=BASE_MODEL, got {text!r}")
    return name.strip(), target.strip()


def _pause(text: str) -> tuple[str, float]:
    state, sep, seconds = text.partition(":")
    if not sep or state not in QUEUE_STATES:
        raise argparse.ArgumentTypeError(
            f"a pause is STATE:SECONDS with STATE one of {', '.join(QUEUE_STATES)}, got {text!r}")
    return state, _seconds(seconds)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tinkex.emulator",
        description="A local Tinker-compatible server backed by a small numpy language model. "
                    f"Every flag can also be set as {ENV_PREFIX}<FLAG> "
                    f"(e.g. {ENV_PREFIX}FAULT_5XX_RATE).")
    p.add_argument("--data-dir", type=Path, required=True,
                   help="where the database and weights live")
    _server_options(p.add_argument_group("server"))
    _client_config_options(p.add_argument_group(
        "what the client config announces (features of newer SDKs)"))
    _fault_options(p.add_argument_group("fault injection (seeded; for chaos testing)"))
    return p


def _server_options(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument("--alias", type=_alias, action="append", default=[], metavar="NAME=BASE",
                   help="serve BASE (e.g. tinkex/tiny-lm) under another model name; repeatable")
    p.add_argument("--sample-seed", type=int, default=None, metavar="N",
                   help="unseeded samples draw from a seed derived from N and the request, "
                        "so reruns of a script sample the same tokens")
    p.add_argument("--poll-hold", type=_seconds, default=20.0,
                   help="how long retrieve_future waits for a result before answering 408")
    p.add_argument("--future-retention", type=_seconds, default=3600.0,
                   help="seconds a finished future stays retrievable; later polls get 410")
    p.add_argument("--gap-timeout", type=_seconds, default=30.0,
                   help="seconds a model waits for a missing seq_id before skipping it")
    p.add_argument("--workers", type=int, default=2, help="compute threads")
    p.add_argument("--archive-url-ttl", type=_seconds, default=900.0,
                   help="lifetime of signed checkpoint archive URLs")
    p.add_argument("--console-link-ttl", type=_seconds, default=86400.0,
                   help="lifetime of the console sign-in links handed out in the client "
                        "config (a browser then stays signed in for 12 hours)")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.add_argument("--prices", type=_prices, default=Prices(), metavar="NAME=USD,...",
                   help="billing price table: training, sampling_prefill, sampling_prefill_cached, "
                        "sampling_sample (USD per million tokens), storage_gb_month")
    p.add_argument("--hf-cache", default="auto", metavar="auto|off|DIR",
                   help="Hugging Face hub cache to install the byte tokenizer in under each model's "
                        "name, so transformers loads it offline (auto: HF_HUB_CACHE, HF_HOME/hub "
                        "or ~/.cache/huggingface/hub)")
    p.add_argument("--max-body-mb", type=float, default=64.0, metavar="MB",
                   help="refuse request bodies larger than this (413, before parsing)")
    p.add_argument("--jwt-ttl", type=_seconds, default=3600.0,
                   help="lifetime of minted JWTs in seconds (default 3600)")


def _client_config_options(p: argparse._ArgumentGroup) -> None:
    p.add_argument("--proto-fwdbwd", type=_flag, nargs="?", const=True, default=False,
                   help="client config proto_write_fwdbwd: SDK 0.19 - 0.24.1 send forward_backward "
                        "as protobuf (SDK >= 0.25 always do; JSON is accepted either way)")
    p.add_argument("--proto-compress-fwdbwd", type=_flag, nargs="?", const=True, default=False,
                   help="client config proto_compress_fwdbwd: SDK >= 0.22.1 zstd-compress "
                        "protobuf forward_backward bodies")
    p.add_argument("--jwt-auth", type=_flag, nargs="?", const=True, default=True,
                   help="client config pjwt_auth_enabled (default on): SDK >= 0.18 exchange the key "
                        "for a short-lived JWT at /api/v1/auth/token; plain keys keep working")
    p.add_argument("--retrieve-futures", type=_flag, nargs="?", const=True, default=False,
                   help="client config sample_use_retrieve_futures: SDK >= 0.26.2 wait for "
                        "sampling results with one session-level poll per sampling client")
    p.add_argument("--join-sampling-session", type=_flag, nargs="?", const=True, default=True,
                   help="client config sample_join_sampling_session (default on): SDK >= 0.32 "
                        "rebuilt sampling clients get their clone id from "
                        "/api/v1/join_sampling_session")
    p.add_argument("--custom-loss-server-side", type=_flag, nargs="?", const=True, default=False,
                   help="client config custom_loss_server_side: SDK >= 0.36 upload traced custom "
                        "losses, which the emulator then runs")


def _fault_options(faults: argparse._ArgumentGroup) -> None:
    faults.add_argument("--fault-seed", type=int, default=0)
    faults.add_argument("--fault-5xx-rate", type=_rate, default=0.0,
                        help="share of API requests answered with a 5xx before running")
    faults.add_argument("--fault-429-rate", type=_rate, default=0.0,
                        help="share of asample requests refused with 429 (backpressure)")
    faults.add_argument("--fault-drop-rate", type=_rate, default=0.0,
                        help="share of API requests whose connection is closed without an answer")
    faults.add_argument("--fault-lose-rate", type=_rate, default=0.0,
                        help="share of API requests that run, then lose their answer "
                             "(the connection is closed instead of answering)")
    faults.add_argument("--fault-latency", type=_seconds, default=0.0,
                        help="seconds added before every API request")
    faults.add_argument("--fault-hold", type=_seconds, default=0.0,
                        help="the first poll of every future is held this long, then answered 408")
    faults.add_argument("--fault-refuse-jwt-every", type=int, default=0, metavar="N",
                        help="refuse every N-th request carrying a valid JWT with 401 "
                             "invalid_token (clients then mint a new one and replay)")
    faults.add_argument("--fault-pause", type=_pause, default=None, metavar="STATE:SECONDS",
                        help="every future waits SECONDS in a paused queue "
                             "(408 with queue_state STATE)")
    faults.add_argument("--fault-corrupt-after", type=int, default=0, metavar="STEPS",
                        help="mark each training run corrupted after STEPS optimizer steps: "
                             "get_training_run says corrupted, its training requests fail")


def _env_defaults(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> list[str]:
    """Turn ``TINKEX_EMULATOR_*`` variables into flags placed before the real arguments."""
    args: list[str] = []
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flag = action.option_strings[0]
        value = env.get(ENV_PREFIX + flag[2:].upper().replace("-", "_"))
        if value is None or value == "":
            continue
        items = value.split(",") if isinstance(action, argparse._AppendAction) else [value]
        for item in items:
            args += [flag, item.strip()]
    return args


def parse_config(argv: Sequence[str] | None = None,
                 env: Mapping[str, str] | None = None) -> EmulatorConfig:
    """Flags override environment variables; argparse reports bad values and exits 2."""
    parser = build_parser()
    environ = os.environ if env is None else env
    argv = list(argv) if argv is not None else []
    ns = parser.parse_args(_env_defaults(parser, environ) + argv)
    if ns.workers < 1:
        parser.error("--workers must be >= 1")
    if ns.jwt_ttl < 1:
        parser.error("--jwt-ttl must be at least 1 second")
    if ns.max_body_mb <= 0:
        parser.error("--max-body-mb must be > 0")
    if ns.fault_corrupt_after < 0:
        parser.error("--fault-corrupt-after must be >= 0")
    state, seconds = ns.fault_pause or (None, 0.0)
    return EmulatorConfig(
        data_dir=ns.data_dir, host=ns.host, port=ns.port, aliases=dict(ns.alias),
        poll_hold=ns.poll_hold, future_retention=ns.future_retention,
        sample_seed=ns.sample_seed,
        gap_timeout=ns.gap_timeout, workers=ns.workers, archive_url_ttl=ns.archive_url_ttl,
        console_link_ttl=ns.console_link_ttl,
        log_level=ns.log_level, proto_fwdbwd=ns.proto_fwdbwd,
        proto_compress_fwdbwd=ns.proto_compress_fwdbwd, jwt_auth=ns.jwt_auth,
        jwt_ttl=ns.jwt_ttl, retrieve_futures=ns.retrieve_futures,
        join_sampling_session=ns.join_sampling_session,
        custom_loss_server_side=ns.custom_loss_server_side, prices=ns.prices,
        hf_cache=ns.hf_cache, max_body_bytes=int(ns.max_body_mb * 2**20),
        faults=FaultConfig(seed=ns.fault_seed, rate_5xx=ns.fault_5xx_rate,
                           rate_429=ns.fault_429_rate, drop_rate=ns.fault_drop_rate,
                           lose_rate=ns.fault_lose_rate,
                           latency=ns.fault_latency, hold=ns.fault_hold,
                           pause_state=state, pause_seconds=seconds,
                           refuse_jwt_every=max(0, ns.fault_refuse_jwt_every),
                           corrupt_after=ns.fault_corrupt_after))
