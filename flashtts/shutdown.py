"""Shutdown with grace: on SIGTERM new work is refused while the work in flight runs on.

:class:`Drain` is the state every surface shares: once :meth:`Drain.begin` is called (by the
signal handler of :mod:`flashtts.http_server`), :class:`DrainMiddleware` answers new HTTP
requests 503 with ``Retry-After`` (and refuses new WebSockets), ``/ready`` answers 503, and the
Wyoming server closes its listener and its idle connections. The server exits once nothing is
in flight, or after ``--shutdown_grace`` seconds, when :meth:`Drain.abort` ends what is left.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable

from flashtts.middleware import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

RETRY_AFTER = 2
"""Seconds a refused client is told to wait (by then a load balancer has another instance ready)."""
UNCOUNTED_PATHS = frozenset({"/health", "/ready", "/api/health", "/metrics"})
"""Probes: answered while draining and never waited for."""

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


class DrainMiddleware:
    """Counts the requests in flight; while draining, refuses new ones (503, ``Retry-After``)."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in UNCOUNTED_PATHS:
            await self.app(scope, receive, send)
            return
        if self.drain.draining:
            await self._refuse(scope, send)
            return
        self.drain.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.in_flight -= 1

    @staticmethod
    async def _refuse(scope: Scope, send: Send) -> None:
        message = "the server is shutting down; retry (another instance, or this one once restarted)"
        if scope["type"] == "websocket":  # before accept: the handshake is refused
            await send({"type": "websocket.close", "code": 1013, "reason": "server shutting down"})
            return
        body = json.dumps({"error": {"message": message, "type": "server_error", "param": None,
                                     "code": "shutting_down"}}).encode()
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
