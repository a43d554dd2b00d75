"""``tinkex emulator serve``: run the local Tinker emulator in the foreground.

It prints ``tinkex emulator listening on URL`` once it serves requests; Ctrl-C
(SIGINT) or SIGTERM stops it cleanly with exit status 0. Flags this command does
not define (fault injection, ``--log-level``, ...) are handed to the emulator.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
import tempfile
from pathlib import Path

import click

_OWN_FLAGS = {"--data-dir", "--host", "--port", "--help", "-h"}


def passthrough_flags() -> list[tuple[str, str]]:
    """The emulator's other flags and their help, for this command's ``--help``."""
    from tinkex.emulator.config import build_parser

    rows = []
    for action in build_parser()._actions:
        names = [n for n in action.option_strings if n not in _OWN_FLAGS]
        if names and len(names) == len(action.option_strings):
            metavar = action.metavar or (action.dest.upper() if action.nargs != 0 else "")
            rows.append((f"{names[0]} {metavar}".strip(), action.help or ""))
    return rows


class ServeCommand(click.Command):
    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Emulator flags (passed through)"):
            formatter.write_dl(passthrough_flags())


@click.group("emulator")
def group() -> None:
    """Run the local Tinker-compatible emulator."""


@group.command("serve", cls=ServeCommand,
               context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port to listen on (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where state lives (default: a temporary directory removed on exit).")
@click.argument("emulator_args", nargs=-1, type=click.UNPROCESSED)
def serve(port: int, host: str, data_dir: Path | None,
          emulator_args: tuple[str, ...]) -> None:
    """Serve the emulator until Ctrl-C."""
    missing = [m for m in ("starlette", "uvicorn", "safetensors", "jinja2")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise click.ClickException(f"the emulator needs {', '.join(missing)}: "
                                   "pip install 'tinkex[emulator]'")
    from tinkex.emulator.config import parse_config
    from tinkex.emulator.run.server import Emulator

    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="tinkex-emulator-")))
            click.echo(f"tinkex emulator: state in {data_dir} (removed on exit; "
                       "use --data-dir to keep it)", err=True)
        # argparse reports a bad pass-through flag itself, with exit status 2
        config = parse_config(["--port", str(port), "--host", host, "--data-dir",
                               str(data_dir), *emulator_args])
        logging.basicConfig(level=config.log_level.upper(), stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        try:
            # the same announcement as ``python -m tinkex.emulator`` (EmulatorProcess reads it)
            Emulator(config).serve(on_started=lambda url: click.echo(
                f"tinkex emulator listening on {url}"))
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"the emulator could not start: {exc}") from None
