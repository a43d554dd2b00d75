"""The emulator in this process, without a socket: its ASGI application behind a transport.

For fast tests of client code::

    with InProcessEmulator(data_dir=tmp) as emu:
        with tinkex.ServiceClient(base_url=emu.base_url, api_key="tml-test",
                                  transport=emu.transport()) as service:
            ...

Everything but the socket is the real emulator (routes, handlers, the model,
state on disk). Signed download URLs point at ``base_url``, which no socket
serves: tests of downloads use :class:`~tinkex.emulator.Emulator`. The
subprocess emulator stays for integration and conformance tests.
"""

from __future__ import annotations

import itertools
from types import TracebackType
from typing import Any

from tinkex.core.asgi import ASGITransport
from tinkex.emulator.config import EmulatorConfig
from tinkex.emulator.http.app import build_app
from tinkex.emulator.http.services import Services

_instances = itertools.count(1)


class InProcessEmulator:
    """The emulator's services and application, reached through :meth:`transport`."""

    base_url = "http://emulator.in-process"

    def __init__(self, config: EmulatorConfig | None = None, **settings: Any) -> None:
        self.config = EmulatorConfig.given(config, settings)
        self.thread_prefix = f"tinkex-emulator-inprocess-{next(_instances)}"
        self.services: Services | None = None
        self._app: Any = None

    def start(self) -> InProcessEmulator:
        self.services = Services(self.config, self.thread_prefix)
        try:
            self._app = build_app(self.services)
        except BaseException:
            self.close()
            raise
        return self

    def transport(self) -> ASGITransport:
        """A new transport to the application, for one client (which closes it)."""
        if self._app is None:
            raise RuntimeError("start the in-process emulator first")
        return ASGITransport(self._app)

    def close(self) -> None:
        if self.services is not None:
            self.services.close()
            self.services = None
        self._app = None

    def __enter__(self) -> InProcessEmulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
