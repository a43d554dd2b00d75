"""The root command: version, help, global options, exit codes, and clean errors."""

from __future__ import annotations

import json
import time

import pytest
from cli_helpers import Invoke, assert_one_error_line
from click.testing import CliRunner

import tinkex
from tinkex.cli import cli, main
from tinkex.cli.context import CliState


def test_version_text_and_json():
    text = CliRunner().invoke(cli, ["version"])
    assert text.exit_code == 0 and tinkex.__version__ in text.stdout
    result = CliRunner().invoke(cli, ["version", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["tinkex"] == tinkex.__version__
    assert set(data) == {"tinkex", "api_version", "parity_version", "python"}
    assert result.stdout.strip() == json.dumps(data, sort_keys=True, indent=2)
    assert CliRunner().invoke(cli, ["--version"]).stdout.strip().endswith(tinkex.__version__)


def test_help_lists_every_group():
    result = CliRunner().invoke(cli, ["--help"])
    for name in ("checkpoint", "run", "session", "sample", "emulator", "version"):
        assert f"  {name} " in result.stdout


def test_main_returns_the_exit_status():
    assert main(["version"]) == 0
    assert main(["no-such-command"]) == 2
    assert main(["checkpoint", "list", "--limit", "-1"]) == 2


def test_missing_api_key_is_a_clean_error(invoke: Invoke):
    result = invoke("run", "list", api_key=None)
    assert_one_error_line(result, "no API key", "--api-key", "TINKER_API_KEY")


def test_malformed_api_key_and_base_url(invoke: Invoke):
    assert_one_error_line(invoke("--api-key", "sk-123", "run", "list"), "--api-key", "'tml-'")
    assert_one_error_line(invoke("--base-url", "ftp://example", "run", "list"),
                          "http:// or https://")


def test_global_options_win_over_the_environment(invoke: Invoke, emulator: str):
    result = invoke("--base-url", emulator, "--api-key", "tml-cli-flags", "run", "list",
                    api_key="tml-ignored", base_url="http://127.0.0.1:9")
    assert result.exit_code == 0, result.stderr


def test_unreachable_server_is_a_clean_error(invoke: Invoke, closed_port: int):
    url = f"http://127.0.0.1:{closed_port}"
    started = time.monotonic()
    result = invoke("--max-retries", "0", "checkpoint", "list", base_url=url)
    assert_one_error_line(result, "cannot reach", url, "refused")
    result = invoke("--max-retries", "1", "sample", "--base-model", "tinkex/tiny-lm",
                    "--prompt", "x", base_url=url)
    assert_one_error_line(result, "cannot reach", url)
    assert time.monotonic() - started < 15


def test_ctrl_c_exits_130(invoke: Invoke, monkeypatch: pytest.MonkeyPatch):
    def interrupted(self: CliState) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(CliState, "rest", interrupted)
    result = invoke("run", "list")
    assert result.exit_code == 130
    assert "Traceback" not in result.output and "Interrupted" in result.stderr
