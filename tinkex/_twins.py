"""``*_async`` and ``*_future`` twins of the blocking client methods, all made by one rule.

tinkex is blocking at its core; a twin makes a blocking method usable from a
coroutine without blocking the event loop. It is declared next to its method::

    sample_async = awaiting(sample)                          # -> SampleResponse
    forward_backward_async = submitting(forward_backward)    # -> APIFuture[...], in order

A ``*_future`` twin (:func:`backgrounded`) runs the whole blocking call on
those threads and returns an :class:`~tinkex.APIFuture` of its value at once,
for creating many clients in parallel from blocking code.

The blocking part (the submit, or the whole call) runs on the client's offload
threads (:mod:`tinkex.core.offload`); the coroutine awaits it, then, for
:func:`awaiting`, the request's future, which wakes it from the poller thread
that settles it. Cancelling the awaiting task cancels what is still pending:
a call that has not started is skipped, a submitted request stops being polled.

``ordered`` twins run in the client's :class:`~tinkex.core.offload.Lane`:
methods that number their requests when they run (a training model's
``seq_id``) then number them in the order the twins were called.
"""

from __future__ import annotations

import concurrent.futures
import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, overload

from tinkex.core.apifuture import APIFuture

if TYPE_CHECKING:
    from tinkex._context import ClientContext
    from tinkex.core.offload import Lane

P = ParamSpec("P")
T = TypeVar("T")
C = TypeVar("C", bound="Offloads")


class Offloads:
    """What a client needs for its twins: its context, and (for ordered twins) its lane."""

    _lane: Lane | None = None

    if TYPE_CHECKING:
        @property
        def _ctx(self) -> ClientContext:  # an attribute of most clients, a property of some
            ...

    def _offload(self, call: Callable[[], T], ordered: bool) -> APIFuture[T]:
        return self._ctx.in_background(call, lane=self._lane if ordered else None)


def _name(twin: Callable[..., Any], fn: Callable[..., Any], returns: str, what: str,
          suffix: str = "_async") -> None:
    twin.__name__ = f"{fn.__name__}{suffix}"
    twin.__qualname__ = f"{fn.__qualname__}{suffix}"
    twin.__module__ = fn.__module__
    twin.__doc__ = (f"Like :meth:`{fn.__name__}`, {what}.\n\n"
                    f"{inspect.getdoc(fn) or ''}").rstrip()
    twin.__signature__ = inspect.signature(fn).replace(  # type: ignore[attr-defined]
        return_annotation=returns)


def backgrounded(fn: Callable[Concatenate[C, P], T], *, ordered: bool = False
                 ) -> Callable[Concatenate[C, P], APIFuture[T]]:
    """A ``*_future`` twin: the call runs on the client's threads; a future of its value."""
    def twin(self: C, /, *args: P.args, **kwargs: P.kwargs) -> APIFuture[T]:
        return self._offload(functools.partial(fn, self, *args, **kwargs), ordered)

    returns = f"APIFuture[{inspect.signature(fn).return_annotation}]"
    _name(twin, fn, returns, "without blocking: it returns at once with a future of the value",
          suffix="_future")
    return twin


@overload
def awaiting(fn: Callable[Concatenate[C, P], APIFuture[T]], *, offload: bool = True,
             ordered: bool = False) -> Callable[Concatenate[C, P], Coroutine[Any, Any, T]]: ...


@overload
def awaiting(fn: Callable[Concatenate[C, P], T], *, offload: bool = True,
             ordered: bool = False) -> Callable[Concatenate[C, P], Coroutine[Any, Any, T]]: ...


def awaiting(fn: Callable[..., Any], *, offload: bool = True,
             ordered: bool = False) -> Callable[..., Coroutine[Any, Any, Any]]:
    """A twin that returns the *result*: a returned future is awaited too.

    ``offload=False`` for methods that never block (they only schedule work on
    the client's threads and return a future): the twin calls them directly.
    """
    async def twin(self: Offloads, *args: Any, **kwargs: Any) -> Any:
        call = functools.partial(fn, self, *args, **kwargs)
        value = await flattened(self._offload(call, ordered)) if offload else call()
        if isinstance(value, APIFuture):
            value = await value
        return value

    annotation = inspect.signature(fn).return_annotation
    if isinstance(annotation, str) and annotation.startswith("APIFuture["):
        annotation = annotation[len("APIFuture["):-1]
    _name(twin, fn, annotation,
          "for coroutines: awaits the result, without blocking the event loop")
    return twin


def flattened(submitted: APIFuture[Any]) -> APIFuture[Any]:
    """A future of ``submitted``'s value, or, when that value is a future, of *its* result.

    The coroutine awaiting it then wakes once, when the result is in, instead of
    once for the submit and again for the result. Cancelling it cancels the
    call (if it has not started) and the request's future.
    """
    final: APIFuture[Any] = APIFuture()
    final.waits_on(submitted)
    inner: list[APIFuture[Any]] = []

    def cancel() -> None:
        submitted.cancel()
        for future in inner:
            future.cancel()

    def settle_from(future: concurrent.futures.Future[Any]) -> bool:
        """Settle ``final`` from a failed or cancelled ``future``; False if it succeeded."""
        if future.cancelled():
            final.cancel()
            return True
        exc = future.exception()
        if exc is not None:
            final.settle(exc=exc)
            return True
        return False

    def result_done(future: concurrent.futures.Future[Any]) -> None:
        if not settle_from(future):
            final.settle(future.result())

    def submit_done(future: concurrent.futures.Future[Any]) -> None:
        if settle_from(future):
            return
        value = future.result()
        if not isinstance(value, APIFuture):
            final.settle(value)
            return
        inner.append(value)
        final.request_id = value.request_id
        final.waits_on(value)
        if final.cancelled():  # cancelled while the submit was running
            value.cancel()
            return
        value.add_done_callback(result_done)

    final.when_cancelled(cancel)
    submitted.add_done_callback(submit_done)
    return final


def submitting(fn: Callable[Concatenate[C, P], APIFuture[T]], *, ordered: bool = True
               ) -> Callable[Concatenate[C, P], Coroutine[Any, Any, APIFuture[T]]]:
    """A twin that returns once the request is *submitted*: it gives the request's future.

    For pipelined calls (training passes, optimizer steps, saves): await the
    twin to submit in order, and await its future later for the result.
    """
    async def twin(self: C, /, *args: P.args, **kwargs: P.kwargs) -> APIFuture[T]:
        return await self._offload(functools.partial(fn, self, *args, **kwargs), ordered)

    _name(twin, fn, str(inspect.signature(fn).return_annotation),
          "for coroutines: submits the request, without blocking the event loop")
    return twin
