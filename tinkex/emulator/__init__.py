"""A local Tinker-compatible emulator: a real HTTP server backed by a small numpy language model.

Run it with ``python -m tinkex.emulator --data-dir DIR`` (see ``--help``), in a
test with the ``tinkex_emulator`` pytest fixture, or in-process::

    from tinkex.emulator import Emulator
    with Emulator(data_dir="/tmp/emu") as emu:
        ...  # talk to emu.base_url

``EmulatorProcess`` runs it as a child process and ``InProcessEmulator`` serves
its ASGI app to a client with no socket at all.

The server's dependencies (starlette, uvicorn, safetensors, jinja2) are imported only
when one of these names is used, so the pytest plugin and ``EmulatorProcess``
work without them in the test process.

The package is laid out by role, each layer importing only those below it:
:mod:`.errors` (the outcomes every layer raises) and :mod:`.config` (the
settings) are shared; :mod:`.state` keeps rows, files and accepted requests;
:mod:`.compute` holds the numpy model and the threads that run it; :mod:`.http`
is the Starlette application, its handlers and the console; :mod:`.run` starts
it all (thread, foreground, in-process, child process, pytest fixture).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .__main__ import main
    from .config import EmulatorConfig, FaultConfig
    from .run.inprocess import InProcessEmulator
    from .run.process import EmulatorProcess
    from .run.server import Emulator

__all__ = ["Emulator", "EmulatorConfig", "EmulatorProcess", "FaultConfig", "InProcessEmulator",
           "main"]


def __getattr__(name: str) -> Any:
    if name == "Emulator":
        from .run.server import Emulator
        return Emulator
    if name in ("EmulatorConfig", "FaultConfig"):
        from . import config
        return getattr(config, name)
    if name == "EmulatorProcess":  # a child process: needs none of the server's dependencies
        from .run.process import EmulatorProcess
        return EmulatorProcess
    if name == "InProcessEmulator":
        from .run.inprocess import InProcessEmulator
        return InProcessEmulator
    if name == "main":
        from .__main__ import main
        return main
    raise AttributeError(name)
