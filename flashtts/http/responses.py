"""Turn a :class:`~flashtts.serving.Plan` into an HTTP response (complete file, audio stream or SSE)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Generic, TypeVar

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from flashtts.audio import FORMATS
from flashtts.http.sse import speech_events
from flashtts.serving import Plan, SpeechService, Ticket

T = TypeVar("T", bytes, str)
"""What a response body carries: encoded audio, or SSE text."""

STREAM_HEADERS = {"X-Accel-Buffering": "no", "Cache-Control": "no-cache"}


class ClosingStreamingResponse(StreamingResponse):
    """A stream that closes its body iterator however the response ends.

    Starlette leaves the body generator suspended when the client goes away or a write is abandoned
    (``--send_timeout``); closing it here runs its ``finally`` at once, so the request's slot is
    freed and its engine work stopped without waiting for garbage collection.
    """

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()


class _Prefetched:
    """A body whose first part was already taken (to fail before headers), then the rest."""

    def __init__(self, first: bytes, rest: AsyncIterator[bytes]) -> None:
        self._first: bytes | None = first
        self._rest = rest

    def __aiter__(self) -> _Prefetched:
        return self

    async def __anext__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await self._rest.__anext__()

    async def aclose(self) -> None:
        await self._rest.aclose()  # type: ignore[attr-defined]


async def _guarded(service: SpeechService, plan: Plan, ticket: Ticket,
                   parts: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """Yield ``parts``; whatever happens, free the synthesis slot and log the request once."""
    error: BaseException | None = None
    try:
        async with aclosing(parts) as it:
            async for part in it:
                yield part
    except Exception as exc:
        error = exc
        raise
    finally:
        ticket.generated()
        service.finish(plan, error)


async def complete_admitted(service: SpeechService, plan: Plan, request: Request,
                            ticket: Ticket | None = None) -> tuple[bytes, float]:
    """The plan's whole file and duration, admitted (429 when full), its slot freed and request logged."""
    ticket = ticket or service.admit(plan.client)
    error: BaseException | None = None
    try:
        return await service.complete(plan, request.is_disconnected)
    except BaseException as exc:
        error = exc
        raise
    finally:
        ticket.release()
        service.finish(plan, error)


class _Drain(Generic[T]):
    """A stream produced in its own task into a buffer of at most ``max_bytes``.

    Synthesis runs ahead of a slow reader until the buffer is full; once the producer is done its
    slot is free (see :func:`_guarded`) while the client still drains the buffer. Closing the
    drain (client gone, send timeout) cancels the producer, which aborts the engine work, and ends
    the ticket.
    """

    def __init__(self, parts: AsyncGenerator[T, None], max_bytes: int, ticket: Ticket) -> None:
        self._items: deque[T] = deque()
        self._size = 0
        self._max = max(1, max_bytes)
        self._done = False
        self._error: BaseException | None = None
        self._changed = asyncio.Event()
        self._ticket = ticket
        self._task = asyncio.ensure_future(self._run(parts))

    async def _wait_change(self) -> None:
        await self._changed.wait()
        self._changed.clear()

    async def _run(self, parts: AsyncGenerator[T, None]) -> None:
        try:
            async with aclosing(parts) as it:
                async for part in it:
                    while self._size >= self._max:
                        await self._wait_change()
                    self._items.append(part)
                    self._size += len(part)
                    self._changed.set()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._error = exc
        finally:
            self._done = True
            self._changed.set()

    def __aiter__(self) -> _Drain[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            if self._done:
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
                raise StopAsyncIteration
            await self._wait_change()
        part = self._items.popleft()
        self._size -= len(part)
        self._changed.set()
        return part

    async def aclose(self) -> None:
        if not self._task.done():
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._items.clear()
        self._ticket.release()


async def respond(service: SpeechService, plan: Plan, request: Request, *, stream: bool, sse: bool = False) -> Response:
    """Admit the plan (429 when full) and answer it in the requested shape."""
    ticket = service.admit(plan.client)
    headers = {"X-Request-Id": plan.request_id, **plan.headers}
    if sse or stream:
        disconnected = request.is_disconnected
        limit = service.config.limits.stream_buffer_bytes
        body: AsyncIterator[bytes] | AsyncIterator[str]
        if sse:
            body = _Drain(_guarded(service, plan, ticket, speech_events(service, plan, disconnected)), limit, ticket)
            media_type = "text/event-stream"
        else:
            drain = _Drain(_guarded(service, plan, ticket, service.encoded(plan, disconnected)), limit, ticket)
            media_type = FORMATS[plan.response_format].media_type
            try:  # until the first audio exists an engine failure still gets an error status and body
                first = await drain.__anext__()
            except StopAsyncIteration:
                first = b""
            except BaseException:
                await drain.aclose()
                raise
            body = _Prefetched(first, drain)
        return ClosingStreamingResponse(body, media_type=media_type, headers={**headers, **STREAM_HEADERS})
    data, seconds = await complete_admitted(service, plan, request, ticket)
    headers["X-Audio-Duration"] = f"{seconds:.4f}"
    headers["Content-Disposition"] = f'inline; filename="speech.{plan.response_format}"'
    return Response(data, media_type=FORMATS[plan.response_format].media_type, headers=headers)
