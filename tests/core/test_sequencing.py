"""Sequence numbers: program order across threads, ordered turns, pipelining, blocks, clones."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tinkex.core import futures, sequencing
from tinkex.core.engine import EngineHooks
from tinkex.core.sequencing import Sequencer

from .loopback import (
    LoopbackServer,
    Reply,
    Request,
    kennel,
    kennel_engine,
    wait_until,
)


@pytest.fixture
def seq() -> Sequencer:
    return Sequencer(kennel()[0])


WALK = kennel()[0]["start_walk"]  # step per dog, from 1, ordered
RUN = kennel()[0]["start_run"]  # step per dog, from 0, not ordered


class Submit(threading.Thread):
    """A thread that takes its turn for ``body`` and waits inside until released."""

    def __init__(self, seq: Sequencer, body: dict[str, Any], operation: Any = WALK) -> None:
        super().__init__(daemon=True)  # a broken turn must fail the test, not hang the run
        self.seq, self.body, self.operation = seq, body, operation
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = False

    def run(self) -> None:
        try:
            with self.seq.allocate(self.operation, self.body):
                self.entered.set()
                self.release.wait(5)
                if self.fail:
                    raise RuntimeError("submit failed")
        except RuntimeError:
            pass

    def finish(self) -> None:
        self.release.set()
        self.join()


def test_numbers_per_scope_from_the_spec_start_overwriting_placeholders(seq: Sequencer):
    bodies = [{"dog": d, "step": 0} for d in ("rex", "rex", "fido")]
    for body in bodies:
        with seq.allocate(WALK, body):
            pass
    assert [b["step"] for b in bodies] == [1, 2, 1]
    body = {"dog": "rex"}
    with seq.allocate(RUN, body):  # same scope field, same counter
        pass
    assert body["step"] == 3


def test_ordered_submit_waits_for_the_previous_submit_to_return(seq: Sequencer):
    first = Submit(seq, {"dog": "rex"})
    first.start()
    assert first.entered.wait(5)
    second = Submit(seq, {"dog": "rex"})
    second.start()
    wait_until(lambda: second.body.get("step") == 2, what="the second number")
    other_dog = Submit(seq, {"dog": "fido"})
    other_dog.start()
    assert other_dog.entered.wait(5)  # another scope has its own turn
    assert not second.entered.wait(0.05)
    first.fail = True  # the turn advances on failure too
    first.finish()
    assert second.entered.wait(5)
    second.finish()
    other_dog.finish()


def test_submits_run_in_number_order_across_threads(seq: Sequencer):
    bodies: list[dict[str, Any]] = []
    lock = threading.Lock()

    def call() -> None:
        body = {"dog": "rex"}
        with seq.allocate(WALK, body):
            with lock:
                bodies.append(body)

    threads = [threading.Thread(target=call, daemon=True) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Turns make the submits (here: the appends) happen in number order.
    assert [b["step"] for b in bodies] == list(range(1, 21))


def test_unordered_operations_are_numbered_but_not_serialised(seq: Sequencer):
    first = Submit(seq, {"dog": "rex"}, RUN)
    second = Submit(seq, {"dog": "rex"}, RUN)
    first.start()
    second.start()
    assert first.entered.wait(5) and second.entered.wait(5)
    assert sorted([first.body["step"], second.body["step"]]) == [0, 1]
    first.finish()
    second.finish()


def test_a_reserved_block_shares_one_turn_and_releases_unclaimed_numbers(seq: Sequencer):
    before = Submit(seq, {"dog": "rex"})
    before.start()
    assert before.entered.wait(5)
    block = seq.reserve("start_walk", "rex", 4)
    assert list(block.numbers) == [2, 3, 4, 5]
    after = Submit(seq, {"dog": "rex"})
    after.start()
    wait_until(lambda: after.body.get("step") == 6)
    both_inside = threading.Barrier(3, timeout=5)
    numbers: list[int] = []

    def chunk(n: int) -> None:
        body = {"dog": "rex"}
        with block.claim(n), seq.allocate(WALK, body):
            numbers.append(body["step"])
            both_inside.wait()  # the chunks are inside their turn at the same time

    with block:
        chunks = [threading.Thread(target=chunk, args=(n,), daemon=True) for n in (3, 2)]
        for t in chunks:
            t.start()
        assert not after.entered.wait(0.02)
        before.finish()  # the block's turn opens
        both_inside.wait()
        for t in chunks:
            t.join()
        assert not after.entered.wait(0.02)  # numbers 4 and 5 are still outstanding
    assert after.entered.wait(5)  # leaving the block gave them up
    after.finish()
    assert sorted(numbers) == [2, 3]
    with pytest.raises(ValueError):
        with block.claim(4):
            pass


def test_set_block_numbers_a_clone_in_its_own_range(seq: Sequencer):
    seq.set_block("start_run", "rex", 3_000_000_000)
    body = {"dog": "rex"}
    with seq.allocate(RUN, body):
        pass
    assert body["step"] == 3_000_000_000


def test_a_clone_numbers_in_the_block_its_number_names(seq: Sequencer):
    assert seq.number_as_clone("start_run", "rex", 7) == 7000  # clone_block 1000
    bodies = [{"dog": "rex"}, {"dog": "rex"}, {"dog": "fido"}]
    for body in bodies:
        with seq.allocate(RUN, body):
            pass
    assert [b["step"] for b in bodies] == [7000, 7001, 0]  # other scopes keep their own
    with pytest.raises(ValueError, match="at least 1"):
        seq.number_as_clone("start_run", "rex", 0)
    with pytest.raises(ValueError, match="no clone_block"):
        seq.number_as_clone("start_walk", "rex", 1)


def test_after_fork_the_child_does_not_wait_for_the_parents_submits(seq: Sequencer):
    stuck = Submit(seq, {"dog": "rex"})
    stuck.start()
    assert stuck.entered.wait(5)
    seq.reset_after_fork()  # as in a child, where ``stuck`` does not exist
    child = Submit(seq, {"dog": "rex"})
    child.start()
    assert child.entered.wait(2) and child.body["step"] == 2
    child.finish()
    stuck.finish()


def test_pipelining_next_submit_does_not_wait_for_the_previous_result(server: LoopbackServer):
    steps: list[int] = []
    results_may_come = threading.Event()

    def walk(request: Request) -> Reply:
        steps.append(request.json()["step"])
        return Reply(200, {"ticket": f"t{request.json()['step']}"})

    def result(request: Request) -> Reply:
        results_may_come.wait(5)
        return Reply(200, {"dog": "rex", "meters": 1})

    server.route("POST", "/walks", walk)
    server.route("POST", "/results", result)
    engine = kennel_engine(server.url, hooks=EngineHooks(
        future_resolver=futures.poller_for, sequencer=sequencing.sequencer_for))
    poller = engine.future_resolver
    assert isinstance(poller, futures.FuturePoller)
    try:
        first = engine.call("start_walk", dog="rex")
        second = engine.call("start_walk", dog="rex")
        assert steps == [1, 2]
        assert not first.done() and not second.done()  # submitted while results were pending
        results_may_come.set()
        assert first.result(5).meters == 1 and second.result(5).meters == 1
    finally:
        results_may_come.set()
        poller.close()
        engine.close()
