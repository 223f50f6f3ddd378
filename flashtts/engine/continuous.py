"""Continuous batching: requests join a running batch between decode steps and leave when done.

Unlike :mod:`flashtts.engine.microbatch` (whole items per batch), an autoregressive engine
keeps a set of *active* jobs and advances all of them by one step per iteration:

* new jobs are admitted between steps, up to ``batch_size`` active at once, and their prompts are
  prefilled together (one ``admit`` call for all arrivals of that moment);
* ``wait_timeout`` only coalesces arrivals while the engine is idle: the first arrival waits at most
  that long for company; once anything is active, arrivals join at the very next step;
* a job leaves the batch as soon as it is finished or aborted (``abort`` takes effect before the
  next step), and its slot is free for the next waiting job;
* the loop runs on the model thread (a :class:`~flashtts.engine.worker.ModelWorker`), so all model
  work stays off the event loop; ``call`` runs any other model-thread work between steps.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from flashtts.engine.worker import ModelWorker
from flashtts.metrics import Metrics

log = logging.getLogger(__name__)


class Job(Protocol):
    id: str


J = TypeVar("J", bound=Job)


class BatchModel(Protocol[J]):
    """What an engine implements to be driven by :class:`ContinuousBatcher` (all on the model thread)."""

    def admit(self, jobs: list[J]) -> list[J]:
        """Prefill ``jobs`` together; returns those that joined (others were failed by the model)."""

    def step(self, active: list[J]) -> None:
        """Advance every active job by one step (and hand out whatever output is ready)."""

    def finished(self, job: J) -> bool:
        """True once ``job`` needs no more steps."""

    def release(self, job: J, active: list[J]) -> None:
        """Remove ``job`` from the model's batch and from ``active`` (the model may reorder ``active``)."""

    def fail(self, job: J, exc: BaseException) -> None:
        """Tell ``job``'s consumer that it failed."""


_STOP = object()


class ContinuousBatcher(Generic[J]):
    def __init__(self, model: BatchModel[J], worker: ModelWorker, metrics: Metrics, batch_size: int = 8,
                 wait_timeout: float = 0.01, name: str = "continuous") -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model = model
        self.worker = worker
        self.metrics = metrics
        self.batch_size = batch_size
        self.wait_timeout = max(0.0, float(wait_timeout))
        self.name = name
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._waiting: list[J] = []
        self._active: list[J] = []
        self._aborted: set[str] = set()
        self._lock = threading.Lock()
        self._task: asyncio.Future | None = None
        self.alive = False
        self._stopped = False
        self.restarts = 0
        self.steps = 0
        self.max_active = 0

    # ---- any thread --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the loop on the worker's thread (call from the event loop)."""
        self.alive = True
        self._task = asyncio.ensure_future(self.worker.run(self._run))

    def submit(self, job: J) -> None:
        """Queue ``job``; a loop that died (a bug, a killed thread) is started again first."""
        if not self.alive:
            if self._stopped:
                raise RuntimeError(f"{self.name} batcher is stopped")
            log.error("%s: batching loop is down; starting it again", self.name)
            self.restarts += 1
            self.start()
        self._inbox.put(("job", job))

    def abort(self, job_id: str) -> None:
        """Drop ``job_id`` before the next step (idempotent; unknown ids are ignored)."""
        self._inbox.put(("abort", job_id))

    def call(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        """Run ``fn(*args)`` on the model thread between two steps."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._inbox.put(("call", (fn, args, fut)))
        return fut

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current step; waiting and active jobs fail with "engine stopped"."""
        self._stopped = True
        self._inbox.put(("stop", None))
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
        self.alive = False

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called (a loop that died otherwise restarts on the next submit)."""
        return self._stopped

    def snapshot(self) -> dict[str, int]:
        return {"active": len(self._active), "waiting": len(self._waiting), "steps": self.steps,
                "max_active": self.max_active}

    # ---- model thread ------------------------------------------------------------------------
    def _handle(self, msg) -> bool:
        kind, payload = msg
        if kind == "job":
            if payload.id in self._aborted:
                self._aborted.discard(payload.id)
                self.model.fail(payload, RuntimeError("aborted"))
            else:
                self._waiting.append(payload)
        elif kind == "abort":
            self._abort(payload)
        elif kind == "call":
            fn, args, fut = payload
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn(*args))
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    fut.set_exception(exc)
        elif kind == "stop":
            return False
        return True

    def _abort(self, job_id: str) -> None:
        for job in list(self._waiting):
            if job.id == job_id:
                self._waiting.remove(job)
                self.model.fail(job, RuntimeError("aborted"))
                return
        for job in list(self._active):
            if job.id == job_id:
                self.model.release(job, self._active)
                self.model.fail(job, RuntimeError("aborted"))
                return
        # not seen yet: remember for a little while (a submit racing with its abort)
        self._aborted.add(job_id)
        if len(self._aborted) > 10000:
            self._aborted.clear()

    def _drain(self, block: bool, timeout: float | None = None) -> bool:
        try:
            msg = self._inbox.get(block=block, timeout=timeout)
        except queue.Empty:
            return True
        if not self._handle(msg):
            return False
        while True:
            try:
                msg = self._inbox.get_nowait()
            except queue.Empty:
                return True
            if not self._handle(msg):
                return False

    def _remove_finished(self) -> None:
        for job in [j for j in self._active if self.model.finished(j)]:
            self.model.release(job, self._active)

    def _run(self) -> None:
        try:
            while True:
                idle = not self._active and not self._waiting
                if not self._drain(block=idle, timeout=None):
                    break
                if not self._active and self._waiting and self.wait_timeout > 0:
                    # idle engine: give near-simultaneous arrivals a moment to share the prefill
                    deadline = time.monotonic() + self.wait_timeout
                    while len(self._waiting) < self.batch_size:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        if not self._drain(block=True, timeout=left):
                            return
                free = self.batch_size - len(self._active)
                if free > 0 and self._waiting:
                    new, self._waiting = self._waiting[:free], self._waiting[free:]
                    try:
                        joined = self.model.admit(new)
                    except Exception as exc:  # noqa: BLE001 - fails this admission only
                        log.exception("%s: prefill failed", self.name)
                        for job in new:
                            self.model.fail(job, exc)
                        joined = []
                    self._active.extend(joined)
                    self._remove_finished()
                if not self._active:
                    continue
                n = len(self._active)
                try:
                    self.model.step(self._active)
                except Exception as exc:  # noqa: BLE001 - fail the batch, keep serving
                    log.exception("%s: decode step failed", self.name)
                    for job in list(self._active):
                        self.model.release(job, self._active)
                        self.model.fail(job, exc)
                    continue
                self.steps += 1
                self.max_active = max(self.max_active, n)
                self.metrics.observe_batch(n)
                self._remove_finished()
        finally:
            self.alive = False
            waiting, self._waiting = self._waiting, []
            for job in waiting + list(self._active):
                try:
                    if job in self._active:
                        self.model.release(job, self._active)
                    self.model.fail(job, RuntimeError("engine stopped"))
                except Exception:  # noqa: BLE001 - best effort while going down
                    log.exception("%s: cleanup failed", self.name)
            self._active = []
