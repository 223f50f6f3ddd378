"""Dedicated threads that own the model: all model work runs there, never on the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

MODEL_THREAD_NICE = 5
"""How far below the event loop's the model threads' CPU priority is (a Linux nice increment): when the
cores are saturated, the loop (accepting connections, writing audio out, answering health checks) is
scheduled first and model work takes the rest. Threads they start (ONNX Runtime's and PyTorch's pools)
inherit it. Measured with ``benchmarks/soak.py --duration 150`` at a load average of 9 on 2 cores, two
runs each, alternating: event-loop lag p99 100 ms at 0, 50 ms at 5 (max 0.48-0.66 s vs 0.27 s)."""


def lower_thread_priority(increment: int) -> bool:
    """Lower the calling thread's CPU priority by ``increment`` nice steps (Linux: per thread); True if done."""
    if increment <= 0 or not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)
    except OSError:
        return False
    return True


class ModelWorker:
    """One thread per model instance (models are not thread-safe); awaitable calls into it.

    ``threads`` > 1 is for models whose calls are thread-safe (an ONNX Runtime session): up to that
    many calls run at once.
    """

    def __init__(self, name: str = "flashtts-model", threads: int = 1) -> None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        self.name = name
        self.threads = threads
        self._thread_ids: set[int] = set()
        self._stopped = False
        self.restarts = 0
        """Times a dead thread was replaced."""
        self._start()

    def _start(self) -> None:
        self._thread_ids = set()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix=self.name,
                                                               initializer=self._remember_thread)
        self._executor.submit(lambda: None).result()  # the first thread is up before any work
        self._dead = False

    @property
    def alive(self) -> bool:
        """False once the thread was shut down (or killed) until :meth:`restart`."""
        return not self._dead

    def restart(self) -> None:
        """A fresh thread; work still running on the old one finishes there, nothing new goes to it."""
        log.error("model worker %s is down; starting a new thread", self.name)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._start()
        self.restarts += 1

    def kill(self) -> None:
        """The thread is gone as if it had died (fault injection); the next call or the supervisor revives it."""
        self._dead = True
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _remember_thread(self) -> None:
        self._thread_ids.add(threading.get_ident())
        lower_thread_priority(MODEL_THREAD_NICE)

    @property
    def thread_ids(self) -> frozenset[int]:
        """Idents of the threads started so far (threads start as work needs them)."""
        return frozenset(self._thread_ids)

    def in_worker(self) -> bool:
        return threading.get_ident() in self._thread_ids

    async def run(self, fn: Callable[..., T], *args) -> T:
        """Run ``fn(*args)`` on a model thread and await its result (reviving dead threads first)."""
        if self._dead and not self._stopped:
            self.restart()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        self._stopped = True
        self._dead = True
        self._executor.shutdown(wait=False, cancel_futures=True)
