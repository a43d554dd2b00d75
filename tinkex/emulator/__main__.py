"""``python -m tinkex.emulator --port PORT --data-dir DIR``: run the emulator in the foreground.

Prints exactly one line to stdout once requests are served,
``tinkex emulator listening on http://127.0.0.1:PORT`` (what
:class:`~tinkex.emulator.run.process.EmulatorProcess` waits for); logs go to
stderr. SIGINT and SIGTERM shut it down cleanly with exit status 0.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from .config import parse_config
from .run.server import Emulator


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=config.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def announce(base_url: str) -> None:
        print(f"tinkex emulator listening on {base_url}", flush=True)

    try:
        Emulator(config).serve(on_started=announce)
    except (OSError, ValueError) as e:
        print(f"tinkex emulator: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
