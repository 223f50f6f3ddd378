"""The micro-batcher on its own: a plain queue, the real model thread, a recording run_batch.

A fake ``run_batch`` is fine here: what is under test is the scheduling, not the model.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence

import pytest

from flashtts.engine.microbatch import MicroBatcher
from flashtts.engine.worker import MODEL_THREAD_NICE, ModelWorker
from flashtts.metrics import Metrics

from support import unavailable


class Recorder:
    """run_batch that records each batch (on the model thread) and doubles every item."""

    def __init__(self) -> None:
        self.batches: list[list] = []
        self.threads: set[int] = set()
        self.gate: threading.Event | None = None  # when set, the first batch waits on it
        self.started = threading.Event()

    def __call__(self, items: Sequence) -> list:
        self.threads.add(threading.get_ident())
        self.batches.append(list(items))
        self.started.set()
        if self.gate is not None and len(self.batches) == 1:
            assert self.gate.wait(30), "test never opened the gate"
        return [x * 2 for x in items]


@pytest.fixture
async def make():
    made: list[tuple[MicroBatcher, ModelWorker]] = []

    def build(run_batch, max_batch_size: int = 8, wait_timeout: float = 0.01, concurrency: int = 1) -> MicroBatcher:
        worker = ModelWorker("test-model", threads=concurrency)
        batcher = MicroBatcher(run_batch, worker, Metrics(), max_batch_size=max_batch_size, wait_timeout=wait_timeout,
                               concurrency=concurrency)
        batcher.start()
        made.append((batcher, worker))
        return batcher

    yield build
    for batcher, worker in made:
        await batcher.stop()
        worker.shutdown()


async def _settle() -> None:
    """Let every ready task run until it blocks."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_batches_fill_up_to_max_batch_size(make):
    rec = Recorder()
    batcher = make(rec, max_batch_size=4, wait_timeout=0.5)
    # ten callers at once: batches of 4, 4, then the last 2 once the wait is over
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(10))), 20)
    assert results == [i * 2 for i in range(10)]
    assert [len(b) for b in rec.batches[:2]] == [4, 4]
    assert sorted(x for b in rec.batches for x in b) == list(range(10))
    assert all(len(b) <= 4 for b in rec.batches)
    assert batcher.metrics.max_batch_size == 4
    assert batcher.metrics.counters["batch_items_total"] == 10
    assert batcher.metrics.queue_depth == 0


async def test_batch_runs_on_the_model_thread_not_the_event_loop(make):
    rec = Recorder()
    batcher = make(rec)
    assert await batcher.submit(21) == 42
    assert rec.threads and threading.get_ident() not in rec.threads
    assert rec.threads <= batcher.worker.thread_ids


async def test_a_lone_item_runs_after_the_wait(make):
    rec = Recorder()
    batcher = make(rec, max_batch_size=8, wait_timeout=0.05)
    assert await asyncio.wait_for(batcher.submit(1), 10) == 2
    assert rec.batches == [[1]]


async def test_deadline_is_measured_from_the_first_item(make):
    """A at 0, B at 0.25 s, C at 0.75 s with wait_timeout 0.5 s: A and B share a batch, C does not.

    If the window restarted at each arrival (B's deadline would be 0.75 s + slack) or were not
    bounded at all, C would join the first batch. The margins are 0.25 s either side.
    """
    rec = Recorder()
    batcher = make(rec, max_batch_size=8, wait_timeout=0.5)
    a = asyncio.create_task(batcher.submit("a"))
    await asyncio.sleep(0.25)
    b = asyncio.create_task(batcher.submit("b"))
    await asyncio.sleep(0.5)
    c = asyncio.create_task(batcher.submit("c"))
    assert await asyncio.wait_for(asyncio.gather(a, b, c), 10) == ["aa", "bb", "cc"]
    assert rec.batches == [["a", "b"], ["c"]]


async def test_worker_blocks_until_the_first_item(make):
    rec = Recorder()
    batcher = make(rec, max_batch_size=2, wait_timeout=0.0)
    await asyncio.sleep(0.1)
    assert rec.batches == []  # nothing ran without items
    assert await batcher.submit(5) == 10


async def test_cancelled_waiter_is_skipped(make):
    rec = Recorder()
    rec.gate = threading.Event()
    batcher = make(rec, max_batch_size=8, wait_timeout=0.0)
    first = asyncio.create_task(batcher.submit(1))
    # the first batch is now running (and held) on the model thread
    assert await asyncio.get_running_loop().run_in_executor(None, rec.started.wait, 10)
    gone = asyncio.create_task(batcher.submit(2))
    kept = asyncio.create_task(batcher.submit(3))
    await _settle()
    assert batcher.metrics.queue_depth == 2
    gone.cancel()  # e.g. its client disconnected while it waited
    await _settle()
    rec.gate.set()
    assert await asyncio.wait_for(first, 10) == 2
    assert await asyncio.wait_for(kept, 10) == 6
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert rec.batches == [[1], [3]]  # item 2 never reached the model
    assert batcher.metrics.counters["batch_items_total"] == 2
    assert batcher.metrics.queue_depth == 0


async def test_exception_in_run_batch_fails_only_that_batch(make):
    calls: list[list] = []

    def run_batch(items):
        calls.append(list(items))
        if "boom" in items:
            raise RuntimeError("model exploded")
        return [x.upper() for x in items]

    batcher = make(run_batch, max_batch_size=2, wait_timeout=0.2)
    results = await asyncio.wait_for(
        asyncio.gather(*(batcher.submit(x) for x in ("boom", "b", "c", "d")), return_exceptions=True), 20)
    assert calls[0] == ["boom", "b"]
    assert isinstance(results[0], RuntimeError) and str(results[0]) == "model exploded"
    assert isinstance(results[1], RuntimeError)
    assert results[2:] == ["C", "D"]
    # the loop survived: later work still runs
    assert await asyncio.wait_for(batcher.submit("e"), 10) == "E"


async def test_per_item_exception_fails_only_that_item(make):
    def run_batch(items):
        return [ValueError(f"bad {x}") if x < 0 else x + 1 for x in items]

    batcher = make(run_batch, max_batch_size=8, wait_timeout=30.0)
    results = await asyncio.wait_for(
        asyncio.gather(*(batcher.submit(x) for x in (1, -1, 2, -2, 3, 4, 5, 6)), return_exceptions=True), 20)
    assert results[0] == 2 and results[2] == 3 and results[4:] == [4, 5, 6, 7]
    assert isinstance(results[1], ValueError) and str(results[1]) == "bad -1"
    assert isinstance(results[3], ValueError) and str(results[3]) == "bad -2"
    assert batcher.metrics.max_batch_size == 8


async def test_missing_results_fail_the_unsettled_items(make):
    batcher = make(lambda items: [1], max_batch_size=2, wait_timeout=30.0)
    results = await asyncio.wait_for(asyncio.gather(batcher.submit("x"), batcher.submit("y"),
                                                    return_exceptions=True), 20)
    assert results[0] == 1
    assert isinstance(results[1], RuntimeError) and "1 results for 2 items" in str(results[1])


async def test_yielding_run_batch_settles_rows_as_they_finish(make):
    """A generator run_batch: the first row's caller has its result while the second row is held."""
    second_may_run = threading.Event()

    def run_batch(items):
        yield items[0] * 10
        assert second_may_run.wait(30)
        yield items[1] * 10

    batcher = make(run_batch, max_batch_size=2, wait_timeout=30.0)
    first = asyncio.create_task(batcher.submit(1))
    second = asyncio.create_task(batcher.submit(2))
    assert await asyncio.wait_for(first, 10) == 10
    assert not second.done()  # still being computed: row one was not held back for it
    second_may_run.set()
    assert await asyncio.wait_for(second, 10) == 20


async def test_exception_after_some_rows_fails_only_the_rest(make):
    def run_batch(items):
        yield items[0]
        raise RuntimeError("died mid-batch")

    batcher = make(run_batch, max_batch_size=3, wait_timeout=30.0)
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(x) for x in "abc"), return_exceptions=True), 20)
    assert results[0] == "a"
    assert all(isinstance(r, RuntimeError) and str(r) == "died mid-batch" for r in results[1:])


async def test_stop_fails_waiting_items_and_refuses_new_ones(make):
    rec = Recorder()
    rec.gate = threading.Event()
    batcher = make(rec, max_batch_size=1, wait_timeout=0.0)
    running = asyncio.create_task(batcher.submit(1))
    assert await asyncio.get_running_loop().run_in_executor(None, rec.started.wait, 10)
    waiting = asyncio.create_task(batcher.submit(2))
    await _settle()
    await batcher.stop()
    rec.gate.set()
    with pytest.raises(RuntimeError, match="engine stopped"):
        await asyncio.wait_for(waiting, 10)
    with pytest.raises(RuntimeError, match="not running"):
        await batcher.submit(3)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert rec.batches == [[1]]


def test_max_batch_size_must_be_positive():
    with pytest.raises(ValueError):
        MicroBatcher(lambda items: items, None, Metrics(), max_batch_size=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MicroBatcher(lambda items: items, None, Metrics(), concurrency=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ModelWorker("none", threads=0)


async def _until(condition, limit: float = 10.0) -> None:
    """Wait (bounded) until ``condition()`` holds."""
    deadline = asyncio.get_running_loop().time() + limit
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.01)


# ---- concurrency > 1: batches that do not wait for each other (engines that gain nothing from batching)


class Gated:
    """run_batch whose items named in ``held`` wait (on a model thread) until their gate opens."""

    def __init__(self, *held: str) -> None:
        self.gates = {name: threading.Event() for name in held}
        self.entered = {name: threading.Event() for name in held}
        self.threads: set[int] = set()

    def __call__(self, items: Sequence) -> list:
        self.threads.add(threading.get_ident())
        for item in items:
            if item in self.gates:
                self.entered[item].set()
                assert self.gates[item].wait(30), "test never opened the gate"
        return [x.upper() for x in items]

    async def entered_(self, name: str) -> None:
        assert await asyncio.get_running_loop().run_in_executor(None, self.entered[name].wait, 10)


async def test_a_held_item_does_not_hold_up_the_next_one(make):
    """One item at a time, two at once: B runs and returns while A is still being computed.

    With concurrency 1 (the batch barrier) B would wait for A: it could not finish before A's gate opens.
    """
    gated = Gated("a")
    batcher = make(gated, max_batch_size=1, wait_timeout=0.0, concurrency=2)
    a = asyncio.create_task(batcher.submit("a"))
    await gated.entered_("a")
    assert await asyncio.wait_for(batcher.submit("b"), 10) == "B"
    assert not a.done()
    assert batcher.metrics.max_running_items == 2
    gated.gates["a"].set()
    assert await asyncio.wait_for(a, 10) == "A"
    assert len(gated.threads) == 2  # the two ran on two of the worker's threads
    assert gated.threads <= batcher.worker.thread_ids
    await _until(lambda: batcher.metrics.running_items == 0)  # a batch counts as running until its task ends
    snap = batcher.metrics.snapshot()
    assert snap["max_batch_size"] == 1 and snap["batches_total"] == 2


async def test_concurrency_bounds_the_items_in_flight(make):
    """Two slots, both held: a third item waits in the queue and starts when a slot frees."""
    gated = Gated("a", "b")
    batcher = make(gated, max_batch_size=1, wait_timeout=0.0, concurrency=2)
    a = asyncio.create_task(batcher.submit("a"))
    b = asyncio.create_task(batcher.submit("b"))
    await gated.entered_("a")
    await gated.entered_("b")
    c = asyncio.create_task(batcher.submit("c"))
    await _settle()
    assert batcher.metrics.queue_depth == 1 and not c.done()
    gated.gates["b"].set()
    assert await asyncio.wait_for(b, 10) == "B"
    assert await asyncio.wait_for(c, 10) == "C"  # took b's slot while a still runs
    assert not a.done()
    gated.gates["a"].set()
    assert await asyncio.wait_for(a, 10) == "A"
    await _until(lambda: batcher.metrics.running_items == 0)
    assert batcher.metrics.max_running_items == 2 and batcher.metrics.queue_depth == 0


async def test_a_failing_item_fails_alone_among_concurrent_ones(make):
    def run_batch(items):
        if items[0] == "boom":
            raise RuntimeError("model exploded")
        return [x.upper() for x in items]

    batcher = make(run_batch, max_batch_size=1, wait_timeout=0.0, concurrency=4)
    results = await asyncio.wait_for(
        asyncio.gather(*(batcher.submit(x) for x in ("a", "boom", "c", "d")), return_exceptions=True), 20)
    assert results[0] == "A" and results[2:] == ["C", "D"]
    assert isinstance(results[1], RuntimeError) and str(results[1]) == "model exploded"
    assert await asyncio.wait_for(batcher.submit("e"), 10) == "E"


async def test_a_crashed_loop_leaves_running_items_to_finish(make):
    """The loop dies while an item runs: the item still gets its result, and the restarted loop serves on."""
    gated = Gated("a")
    batcher = make(gated, max_batch_size=1, wait_timeout=0.0, concurrency=2)
    a = asyncio.create_task(batcher.submit("a"))
    await gated.entered_("a")
    original = batcher._next_batch

    async def crash_once():
        batcher._next_batch = original
        raise RuntimeError("injected loop crash")

    batcher._next_batch = crash_once
    # the loop is parked in the old _next_batch: "b" wakes it, its next call crashes it
    assert await asyncio.wait_for(batcher.submit("b"), 10) == "B"
    await _until(lambda: batcher.loop_restarts == 1)
    assert await asyncio.wait_for(batcher.submit("c"), 10) == "C"  # the restarted loop serves
    assert not a.done()
    gated.gates["a"].set()
    assert await asyncio.wait_for(a, 10) == "A"


async def test_stop_fails_running_and_waiting_items(make):
    gated = Gated("a")
    batcher = make(gated, max_batch_size=1, wait_timeout=0.0, concurrency=1)
    a = asyncio.create_task(batcher.submit("a"))
    await gated.entered_("a")
    b = asyncio.create_task(batcher.submit("b"))
    await _settle()
    await batcher.stop()
    gated.gates["a"].set()
    for task in (a, b):
        with pytest.raises(RuntimeError, match="engine stopped"):
            await asyncio.wait_for(task, 10)


async def test_model_threads_and_the_threads_they_start_yield_the_cpu_to_the_event_loop():
    """Under saturation the loop is scheduled first: model threads (and pools they start, as ONNX
    Runtime's) run MODEL_THREAD_NICE steps below the event loop's thread."""
    if not hasattr(os, "getpriority"):
        unavailable("no per-thread CPU priority on this platform (Linux has it)")
    worker = ModelWorker("prio", threads=2)
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def child_niceness() -> int:
        seen: list[int] = []
        child = threading.Thread(target=lambda: seen.append(niceness()))
        child.start()
        child.join()
        return seen[0]

    try:
        assert await worker.run(niceness) == min(19, own + MODEL_THREAD_NICE)
        assert await worker.run(child_niceness) == min(19, own + MODEL_THREAD_NICE)
        assert niceness() == own  # the loop's own thread is untouched
    finally:
        worker.shutdown()
