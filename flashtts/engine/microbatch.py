"""Micro-batching queue in the style of Ray Serve's ``@serve.batch``.

The worker blocks for the first item, then admits more until ``wait_timeout`` measured from
that first item has passed or ``max_batch_size`` items are waiting; the batch runs on the
model thread; results are set only on futures that are not done (a cancelled waiter, such as
a client that went away, is skipped before the batch runs and ignored after).

With ``concurrency`` > 1 up to that many batches run at once, each on one of the model worker's
threads: the next batch starts as soon as a slot is free instead of after the batch before it.
An engine that gains nothing from batching (Piper's ONNX voice runs one sentence at a time) uses
``max_batch_size=1, wait_timeout=0`` with ``concurrency`` = its worker's threads, so each item
starts the moment it arrives and a slow one never holds up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from flashtts.engine.worker import ModelWorker
from flashtts.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]


class MicroBatcher(Generic[T, R]):
    """Batches ``submit``-ted items across concurrent callers into ``run_batch`` calls.

    ``run_batch(items)`` runs on ``worker``'s thread and returns (or yields) one result per
    item, in order; a result that is an ``Exception`` fails only that item; a raised exception
    fails the items not yet settled. Up to ``concurrency`` batches run at once (at most the
    worker's threads).
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[T]], Iterable[R | BaseException]],
        worker: ModelWorker,
        metrics: Metrics,
        max_batch_size: int = 8,
        wait_timeout: float = 0.01,
        concurrency: int = 1,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.run_batch = run_batch
        self.worker = worker
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.wait_timeout = wait_timeout
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._queue: asyncio.Queue[_Pending[T, R]] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._supervisor: asyncio.Task | None = None
        self._running: dict[asyncio.Task, list[_Pending[T, R]]] = {}
        """Batches under way, by the task that runs each."""
        self.running = False
        """Started and not stopped: ``submit`` queues work (also while a restart is under way)."""
        self.alive = False
        """The loop runs; False while it is being restarted after a crash."""
        self.loop_restarts = 0
        """Times the loop was restarted after it crashed."""
        self.check_interval = 0.5
        """Seconds between the supervisor's checks of the model worker."""

    @property
    def healthy(self) -> bool:
        """Ready for work: the loop runs and its model worker is alive (what ``/ready`` reports)."""
        return self.alive and self.worker.alive

    def start(self) -> None:
        self.running = True
        self.alive = True
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise(), name="microbatcher-supervisor")

    async def stop(self) -> None:
        self.running = False
        self.alive = False
        running = list(self._running.items())
        for task in (self._supervisor, self._task, *(t for t, _ in running)):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for _, batch in running:
            for pending in batch:
                self._settle(pending, RuntimeError("engine stopped"))
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(RuntimeError("engine stopped"))

    async def submit(self, item: T) -> R:
        """Queue one item and wait for its result; cancelling the wait drops the item."""
        if not self.running:
            raise RuntimeError("engine is not running")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future))
        self.metrics.add_gauge("queue_depth", 1)
        try:
            return await future
        finally:
            if not future.done():
                future.cancel()

    async def _next_batch(self) -> list[_Pending[T, R]]:
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self.wait_timeout
        while len(batch) < self.max_batch_size:
            remaining = deadline - loop.time()
            if remaining <= 0:
                # take what is already waiting without waiting longer
                if self._queue.empty():
                    break
                batch.append(self._queue.get_nowait())
                continue
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        self.metrics.add_gauge("queue_depth", -len(batch))
        return batch

    @staticmethod
    def _settle(pending: _Pending[T, R], result: R | BaseException) -> None:
        if pending.future.done():
            return
        if isinstance(result, BaseException):
            pending.future.set_exception(result)
        else:
            pending.future.set_result(result)

    def _drive(self, loop: asyncio.AbstractEventLoop, live: list[_Pending[T, R]]) -> int:
        """On the model thread: run the batch and settle each item as soon as its result exists.

        ``run_batch`` may return a list or yield results one by one; yielding lets the first
        rows' callers go on while later rows are still being computed.
        """
        count = 0
        for pending, result in zip(live, self.run_batch([p.item for p in live]), strict=False):
            loop.call_soon_threadsafe(self._settle, pending, result)
            count += 1
        return count

    @property
    def restarts(self) -> int:
        """Times the loop or its model worker was restarted after dying."""
        return self.loop_restarts + self.worker.restarts

    def _revive_worker(self) -> None:
        self.worker.restart()

    async def _supervise(self) -> None:
        """Run the loop; restart it when it crashes (with backoff) and the worker when it dies."""
        loop = asyncio.get_running_loop()
        backoff = 0.1
        while True:
            if not self.worker.alive:
                self._revive_worker()
            self._task = loop.create_task(self._loop(), name="microbatcher")
            self.alive = True
            started = loop.time()
            while not self._task.done():
                await asyncio.wait({self._task}, timeout=self.check_interval)
                if not self._task.done() and not self.worker.alive:
                    self.alive = False
                    self._revive_worker()
                    self.alive = True
            self.alive = False
            error = None if self._task.cancelled() else self._task.exception()
            log.error("micro-batcher loop died; restarting it", exc_info=error)
            self.loop_restarts += 1
            backoff = 0.1 if loop.time() - started > 30 else min(backoff * 2, 5.0)
            await asyncio.sleep(backoff)

    async def _loop(self) -> None:
        """Take the next batch whenever a slot is free and run it in a task of its own.

        Batches under way are not the loop's: they finish (and settle their items) even if the
        loop dies and is restarted meanwhile.
        """
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            try:
                batch = await self._next_batch()
            except BaseException:
                self._slots.release()
                raise
            live = [p for p in batch if not p.future.done()]
            if not live:
                self._slots.release()
                continue
            if not self.worker.alive:  # died while idle: revive before running anything on it
                self._revive_worker()
            self.metrics.observe_batch(len(live))
            self.metrics.running(len(live))
            task = loop.create_task(self._run(live), name="microbatch")
            self._running[task] = live
            task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task) -> None:
        self.metrics.running(-len(self._running.pop(task, ())))
        self._slots.release()

    async def _run(self, live: list[_Pending[T, R]]) -> None:
        """One batch on a model thread; the items it leaves unsettled fail with its error."""
        loop = asyncio.get_running_loop()
        try:
            count = await self.worker.run(self._drive, loop, live)
            if count != len(live):
                raise RuntimeError(f"run_batch returned {count} results for {len(live)} items")
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the batch failed: fail the items it did not settle
            log.exception("batch of %d failed", len(live))
            for pending in live:
                loop.call_soon_threadsafe(self._settle, pending, exc)
