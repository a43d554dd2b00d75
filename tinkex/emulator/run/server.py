"""Running the emulator: :class:`Emulator` in a background thread (tests) or the foreground (CLI).

We bind the listening socket ourselves and hand it to uvicorn, so ``--port 0``
still tells us the real port before the first request. Shutdown order matters:
long polls are released first (they answer 408 at once instead of holding the
server for up to ``--poll-hold`` seconds), then uvicorn drains connections,
then the compute and timer threads are joined and the database closed.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType, TracebackType
from typing import Any

import uvicorn

from tinkex.emulator.config import EmulatorConfig
from tinkex.emulator.http.app import build_app
from tinkex.emulator.http.services import Services

_GRACEFUL_SHUTDOWN = 3
_instances = itertools.count(1)


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising the signal after shutdown: a SIGTERM'd emulator exits 0."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None],
                 on_shutdown: Callable[[], None]):
        super().__init__(config)
        self._on_started = on_started
        self._on_shutdown = on_shutdown

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self._request_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _request_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._on_shutdown()
        await super().shutdown(sockets)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted connections of a
    # socket created with it; without it every reply on a kept-alive connection waits
    # ~40 ms for Nagle's algorithm and the peer's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _display_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Emulator:
    """A running emulator; ``with Emulator(data_dir=...) as emu: emu.base_url``."""

    def __init__(self, config: EmulatorConfig | None = None, **settings: Any):
        self.config = EmulatorConfig.given(config, settings)
        #: Names of every thread this emulator starts begin with this (tests check for leaks).
        self.thread_prefix = f"tinkex-emulator-{next(_instances)}"
        self.base_url = ""
        self.services: Services | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._started = threading.Event()

    def _prepare(self, on_started: Callable[[str], None] | None) -> None:
        try:
            self.services = Services(self.config, self.thread_prefix)
            app = build_app(self.services)
            self._sock = _bind(self.config.host, self.config.port)
        except BaseException:
            self._close()
            raise
        self.base_url = _display_url(self.config.host, self._sock.getsockname()[1])
        level = self.config.log_level
        uv_config = uvicorn.Config(app, log_config=None, log_level=level, lifespan="off",
                                   access_log=level in ("debug", "info"),
                                   timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN)

        def started() -> None:
            self._started.set()
            if on_started is not None:
                on_started(self.base_url)

        self._server = _Server(uv_config, started, self.services.futures.close)

    def serve(self, on_started: Callable[[str], None] | None = None) -> None:
        """Run in this thread until SIGINT/SIGTERM (or :meth:`stop` from another thread)."""
        self._prepare(on_started)
        assert self._server is not None and self._sock is not None
        try:
            self._server.run(sockets=[self._sock])
        finally:
            self._close()

    def start(self, timeout: float = 30.0) -> str:
        """Run in a background thread; returns the base URL once requests are served."""
        self._prepare(None)
        assert self._server is not None and self._sock is not None
        server, sock = self._server, self._sock
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                        name=f"{self.thread_prefix}-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._started.wait(0.05):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator failed to start")
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close()

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self.services is not None:
            self.services.close()
            self.services = None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
