"""Pure-ASGI middleware: request ids and the request-body size limit.

Both wrap the whole app (routes, static files, error handlers) and never buffer a body:

* :class:`RequestIdMiddleware` gives every HTTP request an id (the client's ``X-Request-Id``
  when it is a sane token, else a fresh one), exposes it through :func:`current_request_id`
  (a context variable the serving layer uses for its plans and log lines), and adds the
  ``X-Request-Id`` response header when the route did not set one. It is also the last error
  boundary: an unexpected exception before the response started becomes a 500 with an
  OpenAI-style body (and the id) instead of a bare server error.
* :class:`SendTimeoutMiddleware` gives up on a client that does not read: a write that waits
  longer than the limit (the socket buffers are full because the client stopped reading) ends the
  response, so a stalled client frees its slot and its stream's work.
* :class:`BodyLimitMiddleware` answers 413 with an OpenAI-style error body before reading a
  body whose ``Content-Length`` is over the limit, and counts the bytes of bodies sent without
  one (chunked) so that a body growing past the limit is refused while it is being read.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from flashtts.serving.plans import new_request_id

if sys.version_info < (3, 11):  # anyio raises the backport's groups there; the builtin exists from 3.11
    from exceptiongroup import BaseExceptionGroup

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("flashtts_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the HTTP request being served in this context (None outside a request)."""
    return _request_id.get()


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value
    return None


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = (_header(scope, REQUEST_ID_HEADER.encode()) or b"").decode("latin-1").strip()
        request_id = given if _ID_RE.match(given) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        token = _request_id.set(request_id)

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers") or [])
                if not any(k.lower() == REQUEST_ID_HEADER.encode() for k, _ in headers):
                    headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                    message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:  # headers are out: let the server abort the connection (a truncated body)
                raise
            # an unexpected error before any byte: the one error mapping answers (500 with a body)
            from flashtts.http.errors import json_error

            await json_error(exc, request_id)(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body grows past the limit; answered with 413."""

    code = "request_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than the limit of {limit} bytes")
        self.limit = limit


def _error_json(message: str, code: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                 "code": code}}).encode()


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: by ``Content-Length`` up front, else while counting."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Send, message: str) -> None:
        body = _error_json(message, BodyTooLarge.code)
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_bytes <= 0:
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length > self.max_bytes:
                await self._refuse(send, f"request body is {length} bytes; the limit is {self.max_bytes} bytes")
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await self._refuse(send, str(exc.detail))


class SlowClientError(Exception):
    """A client did not take a response write within the send timeout."""


def _is_slow_client(exc: BaseException) -> bool:
    if isinstance(exc, SlowClientError):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_slow_client(e) for e in exc.exceptions)
    return False


class SendTimeoutMiddleware:
    """End a response (or a WebSocket) whose client has not taken a write for ``timeout`` seconds."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.timeout <= 0:
            await self.app(scope, receive, send)
            return

        async def timed_send(message: Message) -> None:
            try:
                await asyncio.wait_for(send(message), self.timeout)
            except asyncio.TimeoutError:
                raise SlowClientError(f"client took no data for {self.timeout:g} s") from None

        try:
            await self.app(scope, receive, timed_send)
        except BaseException as exc:
            if not _is_slow_client(exc):
                raise
            log.warning("%s %s: %s; response abandoned", scope.get("method"), scope.get("path"), exc)
