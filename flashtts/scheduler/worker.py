"""A dedicated thread that owns the model: all model work runs here, never on the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Callable, TypeVar

T = TypeVar("T")


class ModelWorker:
    """One thread per model instance (models are not thread-safe); awaitable calls into it."""

    def __init__(self, name: str = "flashtts-model") -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._thread_id: int | None = None
        self._executor.submit(self._remember_thread).result()

    def _remember_thread(self) -> None:
        self._thread_id = threading.get_ident()

    def in_worker(self) -> bool:
        return threading.get_ident() == self._thread_id

    async def run(self, fn: Callable[..., T], *args) -> T:
        """Run ``fn(*args)`` on the model thread and await its result."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
