"""The generic continuous-batching loop (flashtts/engine/continuous.py) with a counting model."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import pytest

from flashtts.engine.continuous import ContinuousBatcher
from flashtts.engine.worker import ModelWorker
from flashtts.metrics import Metrics

from support import until


@dataclass(eq=False)
class Job:
    id: str
    steps: int
    loop: asyncio.AbstractEventLoop
    done: asyncio.Event = field(default_factory=asyncio.Event)
    left: int = 0
    error: BaseException | None = None
    joined_at_step: int = -1


class CountingModel:
    """Each job needs ``steps`` steps; records every batch it ran, on which thread."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.admits: list[list[str]] = []
        self.threads: set[int] = set()

    def admit(self, jobs):
        self.threads.add(threading.get_ident())
        self.admits.append([j.id for j in jobs])
        for j in jobs:
            j.left = j.steps
            j.joined_at_step = len(self.batches)
        return jobs

    def step(self, active):
        self.threads.add(threading.get_ident())
        time.sleep(0.002)
        self.batches.append([j.id for j in active])
        for j in active:
            j.left -= 1
            if j.left == 0:
                j.loop.call_soon_threadsafe(j.done.set)

    def finished(self, job):
        return job.left <= 0

    def release(self, job, active):
        active.remove(job)

    def fail(self, job, exc):
        job.error = exc
        job.loop.call_soon_threadsafe(job.done.set)


@pytest.fixture
async def batcher():
    worker = ModelWorker("test-continuous")
    model = CountingModel()
    metrics = Metrics()
    made = []

    def make(batch_size=4, wait_timeout=0.0):
        b = ContinuousBatcher(model, worker, metrics, batch_size=batch_size, wait_timeout=wait_timeout)
        b.start()
        made.append(b)
        return b, model, metrics

    yield make
    for b in made:
        await b.stop()
    worker.shutdown()


async def test_jobs_join_between_steps_and_leave_when_done(batcher):
    b, model, metrics = batcher(batch_size=4)
    loop = asyncio.get_running_loop()
    a = Job("a", 30, loop)
    b.submit(a)
    await until(lambda: len(model.batches) >= 5, every=0.001)
    c = Job("c", 3, loop)
    b.submit(c)
    await asyncio.gather(a.done.wait(), c.done.wait())
    assert a.error is None and c.error is None
    assert c.joined_at_step >= 5  # joined a running batch
    shared = [batch for batch in model.batches if batch == ["a", "c"]]
    assert len(shared) == 3  # c left after its 3 steps, a went on alone
    assert model.batches[-1] == ["a"]
    assert metrics.snapshot()["max_batch_size"] == 2
    assert len(model.threads) == 1 and threading.get_ident() not in model.threads


async def test_batch_size_caps_and_waiting_jobs_fill_freed_slots(batcher):
    b, model, _ = batcher(batch_size=2)
    loop = asyncio.get_running_loop()
    jobs = [Job(f"j{i}", 4 + i, loop) for i in range(5)]
    for j in jobs:
        b.submit(j)
    await asyncio.gather(*(j.done.wait() for j in jobs))
    assert max(len(batch) for batch in model.batches) == 2
    assert sum(len(batch) for batch in model.batches) == sum(j.steps for j in jobs)


async def test_wait_timeout_coalesces_arrivals_only_when_idle(batcher):
    b, model, _ = batcher(batch_size=8, wait_timeout=0.2)
    loop = asyncio.get_running_loop()
    first = Job("first", 200, loop)
    b.submit(first)
    await asyncio.sleep(0.05)
    second = Job("second", 2, loop)
    b.submit(second)  # within the idle window: prefilled together with the first
    await second.done.wait()
    assert model.admits[0] == ["first", "second"]
    t0 = time.monotonic()
    third = Job("third", 2, loop)
    b.submit(third)  # busy engine: joins at the next step, no waiting
    await third.done.wait()
    assert time.monotonic() - t0 < 0.15
    assert model.admits[1] == ["third"]
    b.abort("first")
    await first.done.wait()
    assert isinstance(first.error, RuntimeError)


async def test_abort_waiting_and_unknown_jobs(batcher):
    b, model, _ = batcher(batch_size=1)
    loop = asyncio.get_running_loop()
    running, queued = Job("run", 50, loop), Job("queued", 5, loop)
    b.submit(running)
    b.submit(queued)
    b.abort("queued")
    b.abort("nobody")
    await queued.done.wait()
    assert isinstance(queued.error, RuntimeError)
    await until(lambda: bool(model.threads))  # the running job has stepped (model threads yield the CPU)
    b.abort("run")
    await running.done.wait()
    assert "queued" not in {i for batch in model.batches for i in batch}
    fut = b.call(lambda: threading.get_ident())
    assert await asyncio.wrap_future(fut) in model.threads
