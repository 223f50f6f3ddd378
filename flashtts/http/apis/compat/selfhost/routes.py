"""The Qwen3-TTS self-hosting plan's service: ``POST /api/tts/synthesize``, ``GET /api/health``,
``GET /api/voices``. Answers are base64 WAV (24 kHz) in JSON; identical requests can be served
from the result cache (``--result_cache_mb``)."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from flashtts.http.apis import get_service
from flashtts.http.apis.compat.selfhost.protocol import (
    SynthesizeRequest,
    SynthesizeResponse,
    VoiceEntry,
    VoicesResponse,
)
from flashtts.http.apis.compat.serving import Stopwatch, voice_traits
from flashtts.http.apis.system.routes import health_body
from flashtts.http.auth import require_api_key
from flashtts.http.security import http_caller
from flashtts.serving import SpeechService, Utterance
from flashtts.text.languages import engine_language

open_router = APIRouter(tags=["compat: Qwen3-TTS self-hosting"])
router = APIRouter(tags=["compat: Qwen3-TTS self-hosting"], dependencies=[Depends(require_api_key)])


@open_router.get("/api/health", summary="Health (503 until the model is loaded)")
async def api_health(request: Request) -> JSONResponse:
    body = health_body(request)
    return JSONResponse(body, status_code=200 if body["model_loaded"] else 503)


@router.get("/api/voices", response_model=VoicesResponse, summary="Voices and roles")
async def api_voices(service: SpeechService = Depends(get_service)) -> VoicesResponse:
    info = service.engine.info
    voices = []
    for v in info.voices:
        traits = voice_traits(v.id, info)
        voices.append(VoiceEntry(id=v.id, name=v.name, language=v.language or traits.language, gender=traits.gender,
                                 description=v.description))
    for role in await service.roles.list():
        voices.append(VoiceEntry(id=role.name, name=role.name, language=role.language,
                                 description=role.description or "role"))
    return VoicesResponse(voices=voices)


@router.post("/api/tts/synthesize", response_model=SynthesizeResponse, summary="Speak text; base64 WAV in JSON")
async def synthesize(body: SynthesizeRequest, request: Request,
                     service: SpeechService = Depends(get_service)) -> SynthesizeResponse:
    watch = Stopwatch()
    service.planning.check_text(body.text, "text")
    info = service.engine.info
    voice = service.voices.resolve_voice(body.speaker, "speaker")
    language = engine_language(info, body.language if "language" in body.model_fields_set else None)
    utt = Utterance(body.text, voice, instructions=body.instruct, speed=body.speed, pitch=body.pitch,
                    language=language)
    plan = await service.planning.plan("/api/tts/synthesize", [utt], response_format="wav",
                                       options=body.generation_options(), length_threshold=body.length_threshold,
                                       window_size=body.window_size, caller=http_caller())
    data, seconds = await service.lifecycle.file(plan, request.is_disconnected, cached=True)
    return SynthesizeResponse(success=True, audio_base64=base64.b64encode(data).decode(), duration=round(seconds, 3),
                              sample_rate=plan.out_rate, processing_time=watch.seconds)
