"""WebSocket ``/v1/audio/speech/stream``: text pieces in (an LLM's tokens), audio out as each segment completes.

Client: a ``start`` message (options), then ``text`` pieces, ``flush`` and finally ``end``.
Server: ``started``; per segment a ``segment`` message, then binary audio frames (and
``speech.audio.words`` when asked); ``done`` after the last; then it closes. A bad message is
answered with an ``error`` message and a close (1008); closing the socket aborts the work.

A socket is a live session from the moment it is accepted: bounded by ``--max_live_sessions`` and
``--max_live_sessions_per_client`` (``too_many_sessions``, close 1013), ended with ``idle_timeout``
(close 1008) after ``--live_idle_timeout`` seconds without text, and holding an admission slot
only while it has text to speak (:class:`~flashtts.serving.live.LiveSpeech`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from contextlib import aclosing

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from flashtts import audio
from flashtts.errors import SERVER_FAULTS, APIError, IdleTimeoutError, error_body
from flashtts.http.apis.stream.protocol import ControlMessage, StreamStart, TextMessage
from flashtts.http.auth import require_api_key
from flashtts.http.errors import error_type
from flashtts.http.middleware import SlowClientError
from flashtts.http.security import current_client
from flashtts.http.sse import words_event
from flashtts.serving import SpeechService
from flashtts.serving.errors import to_api_error
from flashtts.serving.execution import LiveFramer
from flashtts.serving.live import LiveOptions, LiveSpeech, SegmentStart, Words
from flashtts.serving.sessions import SessionPlace
from flashtts.text.sentences import SentenceCutter

router = APIRouter(prefix="/v1", tags=["openai"])
log = logging.getLogger(__name__)

ROUTE = "/v1/audio/speech/stream"


CLOSE_CODES: dict[str, int] = {
    "invalid_request": 1008, "not_found": 1008, "conflict": 1008, "too_large": 1008, "unauthenticated": 1008,
    "forbidden": 1008, "idle_timeout": 1008, "client_gone": 1008,  # policy: the client's side
    "busy": 1013, "unavailable": 1013,  # try again later
    "timeout": 1011, "storage_failed": 1011, "internal": 1011,  # the server's side
}
"""Each kind of :class:`~flashtts.errors.APIError` as the WebSocket closes for it."""


async def _receive(ws: WebSocket, timeout: float | None) -> dict:
    """The next message as a JSON object (400 for anything else)."""
    try:
        message = await asyncio.wait_for(ws.receive(), timeout)
    except asyncio.TimeoutError:
        raise IdleTimeoutError(f"no message for {timeout:g} s", code="idle_timeout") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    if message.get("text") is None:
        raise APIError("messages are JSON text frames, not binary", code="invalid_message")
    try:
        value = json.loads(message["text"])
    except ValueError:
        raise APIError("message is not valid JSON", code="invalid_message") from None
    if not isinstance(value, dict):
        raise APIError("message must be a JSON object with a 'type'", code="invalid_message")
    return value


def _parse(model, value: dict):
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise APIError(f"{where}: {first['msg']}", param=where, code="invalid_message") from None


async def _start(ws: WebSocket, service: SpeechService) -> tuple[LiveSpeech, StreamStart]:
    await require_api_key(ws)
    start: StreamStart = _parse(StreamStart, await _receive(ws, service.config.limits.live_idle_timeout))
    if start.clause_chars > start.max_chars:
        raise APIError("clause_chars must not exceed max_chars", param="clause_chars")
    client = current_client()  # the edge middleware identified it at the handshake
    voice = await service.roles.voice_from(start.voice or service.engine.info.default_voice or "default",
                                           client=client)
    options = LiveOptions(voice, instructions=start.instructions, speed=start.speed, language=start.language,
                          options=start.generation_options(), timestamps=start.timestamps)
    live = LiveSpeech.open(service, ROUTE, options, client, SentenceCutter(start.clause_chars, start.max_chars))
    return live, start


async def _read_text(ws: WebSocket, live: LiveSpeech) -> None:
    """Feed the session until the client goes (WebSocketDisconnect) or sends a bad message (APIError);
    a session without text is ended by :meth:`LiveSpeech.events` (``idle_timeout``)."""
    while True:
        value = await _receive(ws, None)
        kind = value.get("type")
        if kind == "text":
            live.add(_parse(TextMessage, value).text)
        elif kind in ("flush", "end"):
            _parse(ControlMessage, value)
            if kind == "flush":
                live.flush()
            else:
                live.end()
        else:
            raise APIError(f"unknown message type {kind!r}; expected text, flush or end", param="type",
                           code="invalid_message")


async def _send_audio(ws: WebSocket, live: LiveSpeech, start: StreamStart, rate: int) -> None:
    """Segment messages, audio frames and word timings, in order, then ``done``."""
    framer = LiveFramer(audio.Encoder(start.response_format, rate, live=True))
    segments = 0
    async with aclosing(live.events()) as events:
        async for event in events:
            if isinstance(event, np.ndarray):
                data = await framer.write(event)
                if data:
                    await ws.send_bytes(data)
            elif isinstance(event, SegmentStart):
                segments += 1
                await ws.send_json({"type": "segment", "index": event.index, "text": event.text})
            elif isinstance(event, Words):
                await ws.send_json(words_event(list(event.words)))
    tail = await framer.finish()
    if tail:
        await ws.send_bytes(tail)
    await ws.send_json({"type": "done", "segments": segments, "characters": live.characters,
                        "audio_seconds": round(live.audio_seconds, 3)})


@router.websocket("/audio/speech/stream")
async def speech_stream(ws: WebSocket) -> None:
    """Speak text while it is still being written (see the module docstring for the protocol)."""
    await ws.accept()
    service: SpeechService = ws.app.state.service
    live: LiveSpeech | None = None
    place: SessionPlace | None = None
    tasks: list[asyncio.Task] = []
    try:
        place = service.sessions.open(current_client())  # too_many_sessions: an error message, close 1013
        live, start = await _start(ws, service)
        await ws.send_json({"type": "started", "response_format": start.response_format,
                            "sample_rate": audio.OUTPUT_RATE})
        speaker = asyncio.create_task(_send_audio(ws, live, start, service.engine.info.sample_rate))
        reader = asyncio.create_task(_read_text(ws, live))
        tasks = [speaker, reader]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if speaker.done():
            speaker.result()  # raises the speaker's error, if any
            await ws.close(1000)
        else:
            reader.result()  # the reader only ends by raising: client gone or a bad message
    except WebSocketDisconnect:
        pass  # the finally block stops the work; samples() counts it as aborted
    except SlowClientError as exc:  # it reads nothing: no error message could reach it either
        log.warning("speech stream: %s; abandoned", exc)
    except Exception as exc:
        err = to_api_error(exc)
        if err.kind in SERVER_FAULTS:
            log.exception("speech stream failed", exc_info=exc)
        with contextlib.suppress(Exception):
            await ws.send_json({"type": "error", **error_body(err.message, error_type(err), err.param, err.code)})
            await ws.close(CLOSE_CODES[err.kind], err.message[:120])
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if live is not None:
            live.close()
        if place is not None:
            place.close()
