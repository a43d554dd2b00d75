"""``tinkex emulator serve``: help, argument pass-through and bad flags (in-process)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tinkex.cli import cli


def test_help_lists_the_passed_through_flags():
    result = CliRunner().invoke(cli, ["emulator", "serve", "--help"])
    assert result.exit_code == 0
    for flag in ("--port", "--data-dir", "--host", "--fault-5xx-rate", "--fault-seed",
                 "--log-level"):
        assert flag in result.stdout


def test_a_bad_emulator_flag_is_a_usage_error(tmp_path: Path):
    runner = CliRunner()
    bad_rate = runner.invoke(cli, ["emulator", "serve", "--data-dir", str(tmp_path),
                                   "--fault-5xx-rate", "2"])
    assert bad_rate.exit_code == 2 and "rate must lie in [0, 1]" in bad_rate.stderr
    unknown = runner.invoke(cli, ["emulator", "serve", "--data-dir", str(tmp_path),
                                  "--no-such-flag"])
    assert unknown.exit_code == 2 and "--no-such-flag" in unknown.stderr
    assert runner.invoke(cli, ["emulator", "serve", "--port", "70000"]).exit_code == 2
