"""The root ``tinkex`` command group: global options, ``version``, and error handling.

Exit codes: 0 success, 1 an API or usage error reported as one ``Error:`` line,
2 bad command-line usage (click), 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import platform
from typing import Any

import click

from tinkex._version import __version__

from . import checkpoint, emulator, run, sample, session
from .context import DEFAULT_MAX_RETRIES, CliState
from .errors import EXPECTED, describe
from .output import emit, fields, to_json

EXIT_INTERRUPTED = 130


class TinkexGroup(click.Group):
    """A group whose subcommands' expected failures become ``Error: ...`` and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        state = ctx.ensure_object(CliState)
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            state.status = "interrupted"
            click.echo("\nInterrupted.", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except EXPECTED as exc:
            state.status = "errored"
            raise click.ClickException(describe(exc, state.resolved_base_url)) from None
        except click.ClickException:
            state.status = "errored"
            raise


@click.group(cls=TinkexGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--base-url", metavar="URL", default=None,
              help="API base URL (default: $TINKER_BASE_URL, else the Tinker service).")
@click.option("--api-key", metavar="KEY", default=None,
              help="API key, starting with 'tml-' (default: $TINKER_API_KEY).")
@click.option("--max-retries", type=click.IntRange(min=0), default=DEFAULT_MAX_RETRIES,
              show_default=True, help="Retries of a failed request before giving up.")
@click.version_option(__version__, "-V", "--version", prog_name="tinkex")
@click.pass_context
def cli(ctx: click.Context, base_url: str | None, api_key: str | None, max_retries: int) -> None:
    """Command-line tools for the Tinker fine-tuning API and the local tinkex emulator."""
    state = ctx.ensure_object(CliState)
    state.base_url, state.api_key, state.max_retries = base_url, api_key, max_retries


def version_info() -> dict[str, str]:
    from tinkex._spec import load_document

    document = load_document()
    return {"tinkex": __version__, "api_version": str(document["info"]["version"]),
            "parity_version": str(document.get("x-tinkex-api", {}).get("parity_version", "")),
            "python": platform.python_version()}


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def version(as_json: bool) -> None:
    """Show the tinkex, API and Python versions."""
    info = version_info()
    if as_json:
        emit(to_json(info))
    else:
        emit(fields([("tinkex", info["tinkex"]), ("API version", info["api_version"]),
                     ("SDK parity", info["parity_version"]), ("Python", info["python"])]))


cli.add_command(checkpoint.group)
cli.add_command(run.group)
cli.add_command(session.group)
cli.add_command(sample.command)
cli.add_command(emulator.group)

__all__ = ["cli"]
