"""Shutdown with grace: on SIGTERM new work is refused while the work in flight runs on.

:class:`Drain` is the state every surface shares: once :meth:`Drain.begin` is called (by the
signal handler of :mod:`flashtts.http.server`), :class:`~flashtts.http.shutdown.DrainMiddleware` answers new HTTP
requests 503 with ``Retry-After`` (and refuses new WebSockets), ``/ready`` answers 503, and the
Wyoming server closes its listener and its idle connections. The server exits once nothing is
in flight, or after ``--shutdown_grace`` seconds, when :meth:`Drain.abort` ends what is left.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

RETRY_AFTER = 2
"""Seconds a refused client is told to wait (by then a load balancer has another instance ready)."""

Callback = Callable[[], Awaitable[None] | None]


class Drain:
    """Whether the server is draining, and what it still has in flight."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.draining = False
        self.began_at: float | None = None
        self.in_flight = 0
        """HTTP requests and WebSockets being served (counted by :class:`DrainMiddleware`)."""
        self._busy: list[Callable[[], int]] = []
        self._on_begin: list[Callback] = []
        self._on_abort: list[Callback] = []

    def add_busy(self, count: Callable[[], int]) -> None:
        """Another source of work in flight (the Wyoming server's busy connections)."""
        self._busy.append(count)

    def on_begin(self, callback: Callback) -> None:
        self._on_begin.append(callback)

    def on_abort(self, callback: Callback) -> None:
        self._on_abort.append(callback)

    def busy(self) -> int:
        """Requests, sockets and Wyoming syntheses still in flight."""
        return self.in_flight + sum(count() for count in self._busy)

    def left(self) -> float:
        """Seconds of grace left (0 once over)."""
        if self.began_at is None:
            return self.grace
        return max(0.0, self.began_at + self.grace - time.monotonic())

    async def begin(self) -> None:
        """Refuse new work from now on (idempotent)."""
        if self.draining:
            return
        self.draining = True
        self.began_at = time.monotonic()
        await _run(self._on_begin)

    async def abort(self) -> None:
        """The grace is over: end what is still in flight."""
        await _run(self._on_abort)


async def _run(callbacks: list[Callback]) -> None:
    for callback in callbacks:
        try:
            result = callback()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("shutdown callback failed")
