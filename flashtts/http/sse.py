"""Server-sent events of OpenAI's ``audio.speech`` stream (the response layer's framing)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing

from flashtts.engine import WordTiming
from flashtts.http.errors import error_type
from flashtts.serving import Disconnected, Plan, SpeechService
from flashtts.serving.errors import to_api_error


async def speech_events(service: SpeechService, plan: Plan,
                        disconnected: Disconnected | None = None) -> AsyncGenerator[str, None]:
        """OpenAI's SSE events: ``speech.audio.delta`` chunks, then ``speech.audio.done`` (or ``error``)."""
        try:
            sent = 0
            async with aclosing(service.execution.encoded(plan, disconnected)) as parts:
                async for data in parts:
                    yield _sse({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()})
                    if len(plan.words) > sent:  # timings of the words this audio completed
                        yield _sse(words_event(plan.words[sent:]))
                        sent = len(plan.words)
            if len(plan.words) > sent:
                yield _sse(words_event(plan.words[sent:]))
        except Exception as exc:  # the stream is open: report in-band
            err = to_api_error(exc, plan.request_id)
            plan.status = "error"
            yield _sse({"type": "error", "error": {"message": err.message, "type": error_type(err), "code": err.code}})
            return
        yield _sse({"type": "speech.audio.done", "usage": {
            "input_tokens": plan.characters, "output_tokens": int(round(plan.audio_seconds * 1000 / 80)),
            "total_tokens": plan.characters + int(round(plan.audio_seconds * 1000 / 80)),
            "audio_seconds": round(plan.audio_seconds, 3)}})


def _sse(obj: dict) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=True)}\n\n"


def words_event(words: list[WordTiming]) -> dict:
    """The SSE/WebSocket event carrying word timings (seconds from the start of the answer's audio)."""
    return {"type": "speech.audio.words", "words": [w.as_dict() for w in words]}
