"""Sequence numbers for operations with ``x-tinkex-sequence``, and submission in their order.

An operation's ``sequence`` names a body ``field`` numbered per value of the
body field ``scope`` (one counter per scope value, e.g. per model), starting at
``start``. Numbers are taken in the caller's thread when the call is made, so
they follow program order even across threads. For ``ordered`` operations the
server executes requests in number order, so the submit of number n is sent
only after the submit of n-1 has *returned* (answered or definitively failed:
the turn advances either way). Results are not awaited: calls are pipelined.

A chunked call takes a block of numbers with :meth:`Sequencer.reserve`; the
chunks share one turn and may be submitted concurrently. A copy of a client in
another process numbers in a block of its own: :meth:`Sequencer.number_as_clone`
for an operation that declares ``clone_block``, or any base with
:meth:`Sequencer.set_block`.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tinkex.core.model.operations import Operation, OperationTable, SequenceSpec

if TYPE_CHECKING:
    from tinkex.core.engine import Engine


class _Counter:
    """Numbering and turn state of one scope value."""

    def __init__(self, start: int) -> None:
        self.next = start
        self.done_below = start  # every number below this has returned
        self.returned: set[int] = set()
        self.cond = threading.Condition()

    def take(self, count: int) -> range:
        with self.cond:
            numbers = range(self.next, self.next + count)
            self.next += count
            return numbers

    def wait_turn(self, first: int) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.done_below >= first)

    def mark_returned(self, numbers: range | list[int]) -> None:
        with self.cond:
            self.returned.update(numbers)
            while self.done_below in self.returned:
                self.returned.remove(self.done_below)
                self.done_below += 1
            self.cond.notify_all()

    def restart_at(self, base: int) -> None:
        with self.cond:
            self.next = self.done_below = base
            self.returned.clear()
            self.cond.notify_all()

    def reset_after_fork(self) -> None:
        # Numbers taken by the parent's threads will never return here; do not wait for them.
        self.cond = threading.Condition()
        self.done_below = self.next
        self.returned.clear()


class SequenceBlock:
    """Consecutive numbers reserved for the parts of one call; they share one turn.

    Use as a context manager around the submits: inside, :meth:`claim` makes the
    next call on the current thread carry a given number. Numbers never claimed
    are released on exit so later calls are not held up by them.
    """

    def __init__(self, sequencer: Sequencer, counter: _Counter, scope_value: Hashable,
                 numbers: range) -> None:
        self.numbers = numbers
        self.scope_value = scope_value
        self._sequencer = sequencer
        self._counter = counter
        self._unclaimed = set(numbers)
        self._lock = threading.Lock()

    @contextmanager
    def claim(self, number: int) -> Iterator[int]:
        """Within this block, the current thread's next sequenced call is sent as ``number``."""
        with self._lock:
            if number not in self._unclaimed:
                raise ValueError(f"{number} is not an unclaimed number of this block")
            self._unclaimed.remove(number)
        local = self._sequencer._claims
        local.claim = (self, number)
        try:
            yield number
        finally:
            local.claim = None

    def release_unclaimed(self) -> None:
        """Give up the numbers nobody claimed: they will never be sent."""
        with self._lock:
            unused, self._unclaimed = sorted(self._unclaimed), set()
        if unused:
            self._counter.mark_returned(unused)

    def __enter__(self) -> SequenceBlock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release_unclaimed()


class Sequencer:
    """The engine's ``sequencer``: numbers sequenced calls and enforces ordered turns."""

    def __init__(self, table: OperationTable) -> None:
        self._table = table
        self._counters: dict[tuple[str, Hashable], _Counter] = {}
        self._lock = threading.Lock()
        self._claims = threading.local()

    def _counter(self, spec: SequenceSpec, scope_value: Hashable) -> _Counter:
        key = (spec.scope, scope_value)
        with self._lock:
            counter = self._counters.get(key)
            if counter is None:
                counter = self._counters[key] = _Counter(spec.start)
            return counter

    def _spec(self, operation_id: str) -> SequenceSpec:
        spec = self._table[operation_id].sequence
        if spec is None:
            raise ValueError(f"{operation_id} has no sequence")
        return spec

    @contextmanager
    def allocate(self, operation: Operation, body: dict[str, Any]) -> Iterator[int]:
        """Number ``body`` (overwriting any placeholder) and hold the turn while the submit runs."""
        spec = operation.sequence
        assert spec is not None
        scope_value = body.get(spec.scope)
        claim = getattr(self._claims, "claim", None)
        if claim is not None:
            block, number = claim
            self._claims.claim = None  # one claim numbers exactly one call
            if block.scope_value != scope_value:
                raise ValueError(f"claimed number is for {block.scope_value!r}, "
                                 f"not {scope_value!r}")
            counter, first = block._counter, block.numbers.start
        else:
            counter = self._counter(spec, scope_value)
            number = first = counter.take(1).start
        body[spec.field] = number
        try:
            if spec.ordered:
                counter.wait_turn(first)
            yield number
        finally:
            counter.mark_returned([number])

    def reserve(self, operation_id: str, scope_value: Hashable, count: int) -> SequenceBlock:
        """Take ``count`` consecutive numbers now, in program order, for one chunked call."""
        counter = self._counter(self._spec(operation_id), scope_value)
        return SequenceBlock(self, counter, scope_value, counter.take(count))

    def set_block(self, operation_id: str, scope_value: Hashable, base: int) -> None:
        """Number this scope from ``base`` on (a clone elsewhere numbers in its own block)."""
        self._counter(self._spec(operation_id), scope_value).restart_at(base)

    def number_as_clone(self, operation_id: str, scope_value: Hashable, clone: int) -> int:
        """Number this scope as copy ``clone`` (>= 1) of a client: from ``clone * clone_block``.

        Copies with different ``clone`` numbers never share a number, as long as
        none takes more than ``clone_block`` of them. Returns the first number.
        """
        spec = self._spec(operation_id)
        if spec.clone_block is None:
            raise ValueError(f"{operation_id} declares no clone_block in its sequence")
        if clone < 1:
            raise ValueError(f"clone must be at least 1 (got {clone})")
        base = clone * spec.clone_block
        self.set_block(operation_id, scope_value, base)
        return base

    def reset_after_fork(self) -> None:
        """In a forked child: fresh locks, and no waiting for the parent's submits."""
        self._lock = threading.Lock()
        for counter in self._counters.values():
            counter.reset_after_fork()


def sequencer_for(engine: Engine) -> Sequencer:
    """The engine's ``sequencer`` hook (:class:`~tinkex.core.engine.EngineHooks`)."""
    return Sequencer(engine.table)
