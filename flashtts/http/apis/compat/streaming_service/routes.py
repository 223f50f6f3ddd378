"""The Qwen-TTS streaming service: ``POST /stream-tts`` (live WAV) and ``POST /tts`` (a file).

``voice_attributes`` (gender, age, emotion) choose the closest voice and, on engines that follow
instructions, become a style instruction; elsewhere they only choose the voice. ``GET /metrics``
and ``GET /health`` are flashtts's own.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from flashtts.audio import FORMATS
from flashtts.errors import APIError
from flashtts.http.apis import get_service
from flashtts.http.apis.compat.serving import file_response, voice_for_attributes
from flashtts.http.apis.compat.streaming_service.protocol import FullTTSRequest, StreamTTSRequest, VoiceAttributes
from flashtts.http.auth import require_api_key
from flashtts.http.responses import respond
from flashtts.http.security import http_caller
from flashtts.serving import Plan, SpeechService, Utterance
from flashtts.text.languages import engine_language

router = APIRouter(tags=["compat: Qwen-TTS streaming service"], dependencies=[Depends(require_api_key)])


async def _plan(service: SpeechService, route: str, body: StreamTTSRequest | FullTTSRequest, text: str, fmt: str,
          stream: bool) -> Plan:
    service.planning.check_text(text, "text")
    attrs = body.voice_attributes or VoiceAttributes()
    voice = voice_for_attributes(service, attrs.gender, attrs.age, attrs.emotion, text)
    options = body.generation_options()
    if body.max_length is not None:
        options = replace(options, max_new_tokens=body.max_length)
    utt = Utterance(text, voice, language=engine_language(service.engine.info, body.language))
    return await service.planning.plan(route, [utt], response_format=fmt, options=options,
                              length_threshold=body.length_threshold,
                        window_size=body.window_size, stream=stream, caller=http_caller())


@router.post("/stream-tts", summary="Speak text as a live WAV stream",
             responses={200: {"content": {"audio/wav": {}}}})
async def stream_tts(body: StreamTTSRequest, request: Request,
                     service: SpeechService = Depends(get_service)) -> Response:
    if body.tokens is not None and body.text is None:
        raise APIError("tokens: token input is not supported by this server; send the text", param="tokens",
                       code="unsupported_input")
    if body.text is None:
        raise APIError("text is required", param="text", code="missing_field")
    plan = await _plan(service, "/stream-tts", body, body.text, "wav", stream=True)
    return await respond(service, plan, request, stream=True)


@router.post("/tts", summary="Speak text; one complete file (wav, mp3, ogg)",
             responses={200: {"content": {"audio/wav": {}, "audio/mpeg": {}, "audio/ogg": {}}}})
async def tts(body: FullTTSRequest, request: Request, service: SpeechService = Depends(get_service)) -> Response:
    fmt = "opus" if body.format == "ogg" else body.format
    plan = await _plan(service, "/tts", body, body.text, fmt, stream=False)
    data, seconds = await service.lifecycle.file(plan, request.is_disconnected, cached=True)
    return file_response(plan, data, seconds, FORMATS[fmt].media_type)
