"""Run the emulator as a child process and wait until it is ready."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

_LISTENING = re.compile(r"tinkex emulator listening on (http://\S+)")


class EmulatorProcess:
    """``python -m tinkex.emulator`` on a free port; a context manager that stops it.

    The child prints one line when it listens; we read it (with a deadline) to
    learn the port, then drain its output in a thread so it never blocks.
    """

    def __init__(self, data_dir: str | Path, *, args: list[str] | None = None,
                 env: dict[str, str] | None = None, start_timeout: float = 60.0):
        self.data_dir = Path(data_dir)
        self.args = list(args or [])
        self.env = env
        self.start_timeout = start_timeout
        self.base_url = ""
        self.output: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> str:
        cmd = [sys.executable, "-m", "tinkex.emulator", "--port", "0",
               "--data-dir", str(self.data_dir), *self.args]
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(self.env or {}))
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, env=env)
        ready = threading.Event()

        def read() -> None:
            assert self._proc is not None and self._proc.stdout is not None
            for line in self._proc.stdout:
                self.output.append(line)
                match = _LISTENING.search(line)
                if match and not ready.is_set():
                    self.base_url = match.group(1)
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read, name="tinkex-emulator-output", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        while not ready.wait(0.05):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator did not start in time:\n" + "".join(self.output))
        if not self.base_url:
            self.stop()
            raise RuntimeError("the emulator exited before listening:\n" + "".join(self.output))
        return self.base_url

    @property
    def running(self) -> bool:
        """Whether the child is still alive."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        self._proc = None

    def kill(self, timeout: float = 10.0) -> None:
        """End the child at once with SIGKILL (a crash: nothing is flushed or finished)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self.stop(timeout)

    def __enter__(self) -> EmulatorProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
