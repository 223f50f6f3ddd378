"""Turn a :class:`~flashtts.serving.Plan` into an HTTP response (complete file, audio stream or SSE)."""

from __future__ import annotations

from contextlib import aclosing
from typing import AsyncIterator, TypeVar

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from flashtts.audio import FORMATS
from flashtts.auth import presented_key
from flashtts.serving import Plan, SpeechService, Ticket

T = TypeVar("T")

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

    def __aiter__(self) -> "_Prefetched":
        return self

    async def __anext__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await self._rest.__anext__()

    async def aclose(self) -> None:
        await self._rest.aclose()  # type: ignore[attr-defined]


async def _guarded(service: SpeechService, plan: Plan, ticket: Ticket, parts: AsyncIterator[T]) -> AsyncIterator[T]:
    """Yield ``parts``; whatever happens, free the slot and log the request once."""
    error: BaseException | None = None
    try:
        async with aclosing(parts) as it:
            async for part in it:
                yield part
    except Exception as exc:
        error = exc
        raise
    finally:
        ticket.release()
        service.finish(plan, error)


async def respond(service: SpeechService, plan: Plan, request: Request, *, stream: bool, sse: bool = False) -> Response:
    """Admit the plan (429 when full) and answer it in the requested shape."""
    ticket = service.admit(presented_key(request))
    headers = {"X-Request-Id": plan.request_id, **plan.headers}
    if sse or stream:
        disconnected = request.is_disconnected
        if sse:
            body = _guarded(service, plan, ticket, service.sse(plan, disconnected))
            media_type = "text/event-stream"
        else:
            parts = _guarded(service, plan, ticket, service.encoded(plan, disconnected))
            try:  # until the first audio exists an engine failure still gets an error status and body
                first = await parts.__anext__()
            except StopAsyncIteration:
                first = b""
            body = _Prefetched(first, parts)
            media_type = FORMATS[plan.response_format].media_type
        return ClosingStreamingResponse(body, media_type=media_type, headers={**headers, **STREAM_HEADERS},
                                 background=BackgroundTask(ticket.release))
    error: BaseException | None = None
    try:
        data, seconds = await service.complete(plan, request.is_disconnected)
    except BaseException as exc:
        error = exc
        raise
    finally:
        ticket.release()
        service.finish(plan, error)
    headers["X-Audio-Duration"] = f"{seconds:.4f}"
    headers["Content-Disposition"] = f'inline; filename="speech.{plan.response_format}"'
    return Response(data, media_type=FORMATS[plan.response_format].media_type, headers=headers)
