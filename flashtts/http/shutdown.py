"""The HTTP side of a shutdown with grace: new requests get 503 with ``Retry-After`` (and ``/ready`` 503)
while :class:`~flashtts.serving.shutdown.Drain` lets the ones in flight finish."""

from __future__ import annotations

import json

from flashtts.http.middleware import ASGIApp, Receive, Scope, Send
from flashtts.serving.shutdown import RETRY_AFTER, Drain

UNCOUNTED_PATHS = frozenset({"/health", "/ready", "/api/health", "/metrics"})
"""Probes: answered while draining and never waited for."""


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
