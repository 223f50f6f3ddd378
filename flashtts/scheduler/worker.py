"""A dedicated thread that owns the model: all model work runs here, never on the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class ModelWorker:
    """One thread per model instance (models are not thread-safe); awaitable calls into it."""

    def __init__(self, name: str = "flashtts-model") -> None:
        self.name = name
        self._thread_id: int | None = None
        self._stopped = False
        self.restarts = 0
        """Times a dead thread was replaced."""
        self._start()

    def _start(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        self._executor.submit(self._remember_thread).result()
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
        self._thread_id = threading.get_ident()

    def in_worker(self) -> bool:
        return threading.get_ident() == self._thread_id

    async def run(self, fn: Callable[..., T], *args) -> T:
        """Run ``fn(*args)`` on the model thread and await its result (reviving a dead thread first)."""
        if self._dead and not self._stopped:
            self.restart()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        self._stopped = True
        self._dead = True
        self._executor.shutdown(wait=False, cancel_futures=True)
