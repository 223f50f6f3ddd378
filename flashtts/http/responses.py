"""Turn a :class:`~flashtts.serving.Plan` into an HTTP response (complete file, audio stream or SSE)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from flashtts.audio import FORMATS
from flashtts.http.sse import speech_events
from flashtts.serving import Plan, SpeechService

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


async def respond(service: SpeechService, plan: Plan, request: Request, *, stream: bool, sse: bool = False) -> Response:
    """Answer the plan in the requested shape through the serving lifecycle (429 when full)."""
    headers = {"X-Request-Id": plan.request_id, **plan.headers}
    lifecycle = service.lifecycle
    if sse or stream:
        disconnected = request.is_disconnected
        limit = service.config.limits.stream_buffer_bytes
        body: AsyncIterator[bytes] | AsyncIterator[str]
        if sse:
            body = await lifecycle.stream(plan, speech_events(service, plan, disconnected), buffer_bytes=limit,
                                          first=False)
            media_type = "text/event-stream"
        else:
            body = await lifecycle.stream(plan, service.execution.encoded(plan, disconnected), buffer_bytes=limit)
            media_type = FORMATS[plan.response_format].media_type
        return ClosingStreamingResponse(body, media_type=media_type, headers={**headers, **STREAM_HEADERS})
    data, seconds = await lifecycle.file(plan, request.is_disconnected)
    headers["X-Audio-Duration"] = f"{seconds:.4f}"
    headers["Content-Disposition"] = f'inline; filename="speech.{plan.response_format}"'
    return Response(data, media_type=FORMATS[plan.response_format].media_type, headers=headers)
