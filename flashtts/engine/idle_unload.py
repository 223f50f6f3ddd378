"""``--idle_unload S``: the engine's weights are freed after S seconds without a request, and loaded
again by the next one.

:class:`IdleUnloadEngine` wraps any engine whose class implements :meth:`Engine.unload` and
:meth:`Engine.reload`: it counts the streams running, and a watcher unloads the engine once none
has run for S seconds (then hands the freed memory back to the system). A request that finds the
engine unloaded waits for the reload; its wait is counted in ``model_reload_wait_seconds_total``
and logged. ``info`` stays valid throughout (voices, capabilities), so listings, ``describe`` and
request checks never load the model; ``/ready`` stays 200 (the server takes requests) and says
``loaded: false``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import numpy as np

from flashtts.engine import Engine, EngineInfo, SynthesisRequest, TimedChunk
from flashtts.memory import release_freed_memory, rss_mib
from flashtts.metrics import Metrics

log = logging.getLogger(__name__)


class IdleUnloadEngine(Engine):
    """An engine whose weights are freed after ``idle`` seconds without a request."""

    name = "idle-unload"
    description = "unloads the engine it wraps when idle (--idle_unload)"

    def __init__(self, inner: Engine, idle: float, metrics: Metrics) -> None:
        if not inner.can_unload():
            raise ValueError(f"--idle_unload: engine '{inner.name}' cannot unload its model")
        super().__init__(inner.config, metrics)
        self.inner = inner
        self.idle = idle
        self._running = 0
        self._last_used = time.monotonic()
        self._loaded = True
        """False from the moment an unload begins (requests then wait for a reload)."""
        self._freed = False
        """True once an unload is complete, memory handed back (what ``loaded()`` reports)."""
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task | None = None
        self.unloads = 0
        self.reloads = 0

    @property
    def info(self) -> EngineInfo:
        return self.inner.info

    async def start(self) -> None:
        await self.inner.start()
        self._last_used = time.monotonic()
        self._watcher = asyncio.create_task(self._watch(), name="flashtts-idle-unload")

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        async with self._lock:
            if self._loaded:
                await self.inner.stop()

    def ready(self) -> bool:
        return self.inner.ready() if self._loaded else True  # unloaded, it still takes requests

    def loaded(self) -> bool:
        return not self._freed

    def validate(self, request: SynthesisRequest) -> None:
        self.inner.validate(request)

    async def synthesize(self, request: SynthesisRequest) -> AsyncGenerator[np.ndarray | TimedChunk, None]:
        self._running += 1
        try:
            if not self._loaded:
                await self._reload()
            async with aclosing(self.inner.synthesize(request)) as chunks:
                async for chunk in chunks:
                    yield chunk
        finally:
            self._running -= 1
            self._last_used = time.monotonic()

    async def abort(self, request_id: str) -> None:
        if self._loaded:
            await self.inner.abort(request_id)

    async def _reload(self) -> None:
        """Wait until the engine is loaded (loading it if no other request already is)."""
        asked = time.monotonic()
        async with self._lock:
            if not self._loaded:
                await self.inner.reload()
                self._loaded = True
                self._freed = False
                self.reloads += 1
                self.metrics.inc("model_reloads_total")
                self.metrics.set_gauge("model_loaded", 1)
                log.info("engine %s reloaded in %.2f s; resident memory %s MiB", self.inner.name,
                         time.monotonic() - asked, rss_mib())
        waited = time.monotonic() - asked
        self.metrics.inc("model_reload_wait_seconds_total", waited)
        log.info("a request waited %.2f s for the engine to reload", waited)

    async def _watch(self) -> None:
        """Unload once nothing has run for ``idle`` seconds."""
        while True:
            await asyncio.sleep(max(0.05, min(1.0, self.idle / 4)))
            if self._loaded and self._running == 0 and time.monotonic() - self._last_used >= self.idle:
                try:
                    await self._unload()
                except Exception:
                    log.exception("unloading engine %s failed; it stays loaded from now on", self.inner.name)
                    return

    async def _unload(self) -> None:
        async with self._lock:
            if not self._loaded or self._running or time.monotonic() - self._last_used < self.idle:
                return  # a request came meanwhile
            before = rss_mib()
            self._loaded = False  # from here a new request waits for the lock, then reloads
            try:
                await self.inner.unload()
            except BaseException:
                self._loaded = True
                raise
            self.unloads += 1
            self.metrics.inc("model_unloads_total")
            self.metrics.set_gauge("model_loaded", 0)
            await asyncio.to_thread(release_freed_memory)
            self._freed = True
            log.info("engine %s unloaded after %g s idle; resident memory %s -> %s MiB", self.inner.name,
                     self.idle, before, rss_mib())

    def stats(self) -> dict[str, Any]:
        return {**self.inner.stats(), "loaded": not self._freed, "idle_unload_seconds": self.idle,
                "unloads": self.unloads, "reloads": self.reloads}
