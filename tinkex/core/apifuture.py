"""``APIFuture``: the eventual result of a request, and ``CombinedFuture`` of several.

Subclasses of ``concurrent.futures.Future``, so ``wait`` and ``as_completed``
work; the poller (:mod:`tinkex.core.futures`) settles them. They are awaitable
too (``await future``, :meth:`APIFuture.result_async`): the awaiting coroutine
is woken by the thread that settles the future, through the loop's
``call_soon_threadsafe``, so no thread waits on its behalf. asyncio is imported
only when a future is awaited, never by importing this module: programs that
do not use asyncio never load it.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")
QueueStateObserver = Callable[[str, "str | None"], None]


class APIFuture(concurrent.futures.Future[T]):
    """The eventual result of a request; works with ``concurrent.futures.wait``/``as_completed``.

    ``result(timeout)`` raises the builtin ``TimeoutError`` and keeps polling;
    ``cancel()`` stops polling this future. In a coroutine, ``await future`` (or
    ``await future.result_async(timeout)``) waits without blocking the event
    loop; cancelling the awaiting task cancels the future. ``request_id`` is the server's handle
    (None for futures not backed by one request); ``submit_response`` the parsed
    answer to the submit that created it (fields besides the handle, such as ids
    of the parts of the eventual result, live there).
    """

    def __init__(self, request_id: str | None = None) -> None:
        super().__init__()
        self.request_id = request_id
        self.submit_response: Any = None
        self._on_cancel: Callable[[], None] | None = None
        self._on_wait: Callable[[], None] | None = None
        # Called before a thread blocks on result() without a timeout: it may do the work
        # that settles this future itself (never from a coroutine, which must not block).
        self._on_block: Callable[[], None] | None = None
        self._observers: list[QueueStateObserver] = []
        self._queue_state: tuple[str, str | None] | None = None
        self._observer_lock = threading.Lock()

    @classmethod
    def from_value(cls, value: T) -> APIFuture[T]:
        """A future that is already resolved with ``value``."""
        future: APIFuture[T] = cls()
        future.set_result(value)
        return future

    @classmethod
    def from_exception(cls, exc: BaseException) -> APIFuture[Any]:
        """A future that has already failed with ``exc``."""
        future: APIFuture[Any] = cls()
        future.set_exception(exc)
        return future

    def result(self, timeout: float | None = None) -> T:
        """Wait for the result; ``TimeoutError`` after ``timeout`` seconds (polling continues)."""
        return self._wait(super().result, timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait for completion and return the error, if any; ``TimeoutError`` like :meth:`result`."""
        return self._wait(super().exception, timeout)

    def _wait(self, wait: Callable[[float | None], U], timeout: float | None) -> U:
        # A done future (the common case inside done-callbacks) touches no pool: kicking
        # one takes its lock, which every thread of the pool contends for.
        if not self.done():
            if self._on_wait is not None:
                self._on_wait()
            if timeout is None and self._on_block is not None:
                self._on_block()
        try:
            return wait(timeout)
        except concurrent.futures.TimeoutError:  # a distinct class before Python 3.11
            raise TimeoutError(f"no result within {timeout} s") from None

    # ---- asyncio -------------------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, T]:
        return self.result_async().__await__()

    async def result_async(self, timeout: float | None = None) -> T:
        """Await the result without blocking the event loop.

        Like :meth:`result`, a ``timeout`` raises the builtin ``TimeoutError``
        and the future keeps going (await it again later). Cancelling the task
        that awaits cancels the future: nobody is left to read its result.
        """
        if not self.done():
            await self._until_done(timeout)
        return self.result()

    async def _until_done(self, timeout: float | None) -> None:
        import asyncio  # only programs that await a future pay for asyncio

        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def wake(_: object) -> None:  # runs on the thread that settles this future
            try:
                loop.call_soon_threadsafe(_release, waiter)
            except RuntimeError:  # the loop was closed while we waited: nobody to wake
                pass

        if self._on_wait is not None:
            self._on_wait()
        self.add_done_callback(wake)
        try:
            if timeout is None:
                await waiter
            else:
                await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:  # a distinct class before Python 3.11
            raise TimeoutError(f"no result within {timeout} s") from None
        except asyncio.CancelledError:
            self.cancel()
            raise

    async def coroutine(self) -> T:
        """This future as a coroutine, for APIs that want one (``asyncio.create_task``)."""
        return await self.result_async()

    def future(self) -> concurrent.futures.Future[T]:
        """This future as a ``concurrent.futures.Future`` (it is one: returns itself)."""
        return self

    def running(self) -> bool:
        """True while the result is still being fetched."""
        return not self.done()

    def cancel(self) -> bool:
        """Stop fetching the result; False if it has already arrived."""
        if self.cancelled():
            return True
        if not super().cancel():
            return False
        # Moves the state to CANCELLED_AND_NOTIFIED so that wait()/as_completed() see it.
        self.set_running_or_notify_cancel()
        if self._on_cancel is not None:
            self._on_cancel()
        return True

    def map(self, fn: Callable[[T], U]) -> APIFuture[U]:
        """A future of ``fn(result)``; fails (without calling ``fn``) if this one fails."""
        return CombinedFuture([self], lambda results: fn(results[0]))

    def add_queue_state_observer(self, observer: QueueStateObserver) -> None:
        """Call ``observer(state, reason)`` whenever the server reports a new queue state.

        If a state is already known the observer hears it at once, so registering
        after the submit misses nothing.
        """
        with self._observer_lock:
            self._observers.append(observer)
            known = self._queue_state
        if known is not None:
            notify_observers([observer], *known)

    def _note_queue_state(self, state: str, reason: str | None) -> bool:
        """Record a reported state; True (and observers told) only when it changed."""
        with self._observer_lock:
            if self._queue_state == (state, reason):
                return False
            self._queue_state = (state, reason)
            observers = list(self._observers)
        notify_observers(observers, state, reason)
        return True

    # ---- for the layers that resolve futures (poller, offload threads, domain clients) ------

    def settle(self, value: Any = None, exc: BaseException | None = None) -> None:
        """Resolve with ``value``, or fail with ``exc``; nothing if it is already done
        (a future cancelled while its answer was on the way drops that answer)."""
        self._settle(value, exc)

    def note_queue_state(self, state: str, reason: str | None) -> bool:
        """Record a queue state reported for this future; True (and observers told) if new."""
        return self._note_queue_state(state, reason)

    def when_cancelled(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` when this future is cancelled (replaces an earlier one)."""
        self._on_cancel = callback

    def waits_on(self, source: APIFuture[Any]) -> None:
        """Waiting for this future is waiting for ``source`` (this one is settled from it):
        a thread about to block here may do ``source``'s pending work itself."""
        self._on_wait = source._on_wait
        self._on_block = source._on_block

    def hold(self, owner: object) -> None:
        """Keep a reference to ``owner`` until this future is done (its client, say)."""
        self._held = owner
        self.add_done_callback(_drop_held)

    def _settle(self, value: Any = None, exc: BaseException | None = None) -> None:
        # A future may be cancelled while its last poll is in flight; that answer is dropped.
        try:
            if exc is None:
                self.set_result(value)
            else:
                self.set_exception(exc)
        except concurrent.futures.InvalidStateError:
            pass


def _drop_held(future: Any) -> None:
    future._held = None


def _release(waiter: Any) -> None:
    if not waiter.done():  # a waiter whose await timed out or was cancelled is done already
        waiter.set_result(None)


def notify_observers(observers: Sequence[QueueStateObserver], state: str, reason: str | None) -> None:
    for observer in observers:
        try:
            observer(state, reason)
        except Exception:  # an observer's bug must not break polling
            log.exception("queue-state observer failed")


class CombinedFuture(APIFuture[T]):
    """Resolves to ``combine([results...])`` once every input future has succeeded.

    The first failure (or cancellation) of an input fails the whole; cancelling
    the whole cancels the inputs. Used to join the results of chunked calls.
    """

    def __init__(self, futures: Sequence[APIFuture[Any]],
                 combine: Callable[[list[Any]], T]) -> None:
        super().__init__()
        self.futures = list(futures)
        self._combine = combine
        self._remaining = len(self.futures)
        self._lock = threading.Lock()
        if not self.futures:
            self._finish()
        for future in self.futures:
            future.add_done_callback(self._input_done)

    def _input_done(self, future: concurrent.futures.Future[Any]) -> None:
        if future.cancelled():
            self._settle(exc=concurrent.futures.CancelledError())
            return
        exc = future.exception()
        if exc is not None:
            self._settle(exc=exc)
            return
        with self._lock:
            self._remaining -= 1
            last = self._remaining == 0
        if last:
            self._finish()

    def _finish(self) -> None:
        try:
            value = self._combine([f.result() for f in self.futures])
        except Exception as exc:
            self._settle(exc=exc)
        else:
            self._settle(value)

    def cancel(self) -> bool:
        """Cancel the inputs too: nobody will read their results."""
        if not super().cancel():
            return False
        for future in self.futures:
            future.cancel()
        return True
