"""Headless Chromium for tests, driven over the DevTools protocol on a pipe.

Chromium started with ``--remote-debugging-pipe`` reads protocol commands from
its fd 3 and writes replies and events to fd 4, each message JSON ended by a
NUL byte. That needs no WebSocket, no driver binary and no browser download:
the Debian ``chromium`` package is enough. Everything here is synchronous and
single-threaded: a call writes a command and reads messages (keeping events)
until its reply arrives, always against a deadline.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: Flags for a quiet, sandbox-free browser that opens no connection of its own.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio",
         "--remote-debugging-pipe"]


def find_chromium() -> str | None:
    """``$TINKEX_CHROMIUM``, else ``chromium`` / ``chromium-browser`` / ``google-chrome`` on PATH."""
    configured = os.environ.get("TINKEX_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


# Puts the two pipe ends on fds 3 and 4, where Chromium looks for them, then becomes
# Chromium. The ends are first moved above 9 so that neither can be overwritten by the other.
_LAUNCH = """
import fcntl, os, sys
ends = [fcntl.fcntl(int(fd), fcntl.F_DUPFD_CLOEXEC, 10) for fd in sys.argv[1:3]]
for fd in sys.argv[1:3]:
    os.close(int(fd))
os.dup2(ends[0], 3)
os.dup2(ends[1], 4)
os.execv(sys.argv[3], sys.argv[3:])
"""


class BrowserError(AssertionError):
    """The browser answered a command with an error, or did not answer in time."""


class Browser:
    def __init__(self, executable: str, timeout: float = 30.0):
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="tinkex-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        command = [sys.executable, "-c", _LAUNCH, str(to_browser_r), str(from_browser_w),
                   executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"]
        self._proc = subprocess.Popen(command, pass_fds=(to_browser_r, from_browser_w),
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    # -- protocol -------------------------------------------------------------------

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("the browser did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 16)
                if not chunk:
                    raise BrowserError("the browser exited")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, session: str | None = None,
                   timeout: float | None = None) -> dict[str, Any]:
        """The first buffered or arriving event ``method`` (of ``session``), removed."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, event in enumerate(self.events):
                if event["method"] == method and event.get("sessionId") == session:
                    return self.events.pop(i)
            message = self._read(deadline)
            if "method" in message:
                self.events.append(message)

    # -- pages ----------------------------------------------------------------------

    def new_page(self, width: int = 1280, height: int = 900) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Network", "Runtime"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        return page

    def close(self) -> None:
        try:
            if self._proc.poll() is None:
                self.call("Browser.close", timeout=10)
        except (BrowserError, OSError):
            pass
        finally:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            os.close(self._to_browser)
            os.close(self._from_browser)
            self._profile.cleanup()


class Page:
    """One tab. ``goto`` and ``submit`` return the HTTP status of the document they load."""

    def __init__(self, browser: Browser, session: str):
        self.browser = browser
        self.session = session

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, self.session)

    def _load(self, action: dict[str, Any] | None, expression: str | None = None) -> int:
        """Start a navigation (a protocol call or a script), wait for its load; its status."""
        self.browser.events = [e for e in self.browser.events
                               if e.get("sessionId") != self.session]
        if action is not None:
            result = self.call(action["method"], action["params"])
            if result.get("errorText"):
                raise BrowserError(f"navigation failed: {result['errorText']}")
        else:
            self.evaluate(expression or "")
        self.browser.wait_event("Page.loadEventFired", self.session)
        status = 0
        for event in self.browser.events:
            if (event.get("sessionId") == self.session
                    and event["method"] == "Network.responseReceived"
                    and event["params"].get("type") == "Document"):
                status = int(event["params"]["response"]["status"])
        return status

    def goto(self, url: str) -> int:
        return self._load({"method": "Page.navigate", "params": {"url": url}})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def submit(self, form: str, values: dict[str, str]) -> int:
        """Fill the named fields of the form matching CSS ``form``, submit it, wait for the page."""
        script = (f"(() => {{ const f = document.querySelector({json.dumps(form)});"
                  f" for (const [k, v] of Object.entries({json.dumps(values)}))"
                  f" f.elements[k].value = v; f.requestSubmit(); }})()")
        return self._load(None, script)

    def text(self, selector: str) -> list[str]:
        return list(self.evaluate(
            f"[...document.querySelectorAll({json.dumps(selector)})]"
            ".map(e => e.textContent.trim())"))

    def attribute(self, selector: str, name: str) -> list[str | None]:
        return list(self.evaluate(
            f"[...document.querySelectorAll({json.dumps(selector)})]"
            f".map(e => e.getAttribute({json.dumps(name)}))"))

    @property
    def url(self) -> str:
        return str(self.evaluate("location.href"))

    def screenshot(self, path: Path) -> Path:
        """The whole page (not only the viewport) as a PNG."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.call("Page.captureScreenshot", {"format": "png", "clip": clip,
                                                    "captureBeyondViewport": True})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
