"""Qwen3-TTS FastAPI deployment: ``GET /languages``, ``POST /tts/voice_design`` (+ ``/batch``).

``GET /health`` is flashtts's own (:mod:`flashtts.http.apis.system.routes`), whose answer includes this
API's ``status``/``model_loaded``/``cuda_available``. Voice design needs an engine that takes
instructions (Qwen3-TTS VoiceDesign, or CustomVoice's instruct); others answer 400.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from flashtts.engine import GenerationOptions
from flashtts.http.apis import get_service
from flashtts.http.apis.compat.qwen_fastapi.protocol import (
    AudioBase64,
    BatchAudio,
    Languages,
    VoiceDesignBatchRequest,
    VoiceDesignRequest,
)
from flashtts.http.apis.compat.serving import file_response
from flashtts.http.auth import require_api_key
from flashtts.http.security import http_caller
from flashtts.serving import Plan, SpeechService, Utterance, VoiceChoice
from flashtts.text.languages import engine_language

router = APIRouter(tags=["compat: Qwen3-TTS FastAPI"], dependencies=[Depends(require_api_key)])


async def _plan(service: SpeechService, route: str, text: str, instruct: str, language: str | None,
          options: GenerationOptions, param: str = "text") -> Plan:
    info = service.engine.info
    service.planning.check_text(text, param)
    voice = VoiceChoice(label="voice_design", voice=info.default_voice)
    utt = Utterance(text, voice, instructions=instruct, language=engine_language(info, language))
    return await service.planning.plan(route, [utt], response_format="wav", options=options, caller=http_caller())


@router.get("/languages", response_model=Languages, summary="Languages the engine speaks")
async def languages(service: SpeechService = Depends(get_service)) -> Languages:
    return Languages(languages=list(service.engine.info.languages))


@router.post("/tts/voice_design", summary="Speak text in a voice described in words",
             responses={200: {"content": {"audio/wav": {}, "application/json": {}}}})
async def voice_design(body: VoiceDesignRequest, request: Request,
                       service: SpeechService = Depends(get_service)) -> Response:
    plan = await _plan(service, "/tts/voice_design", body.text, body.instruct, body.language, body.generation_options())
    data, seconds = await service.lifecycle.file(plan, request.is_disconnected, cached=True)
    if body.response_format == "base64":
        return Response(AudioBase64(audio_base64=base64.b64encode(data).decode(), sample_rate=plan.out_rate)
                        .model_dump_json(), media_type="application/json",
                        headers={"X-Request-Id": plan.request_id, "X-Audio-Duration": f"{seconds:.4f}"})
    return file_response(plan, data, seconds, "audio/wav")


@router.post("/tts/voice_design/batch", response_model=BatchAudio, summary="Several texts, each in its described voice")
async def voice_design_batch(body: VoiceDesignBatchRequest, request: Request,
                             service: SpeechService = Depends(get_service)) -> BatchAudio:
    languages: list[str | None] = [*body.languages] if body.languages else [None] * len(body.texts)
    options = body.generation_options()
    plans = [await _plan(service, "/tts/voice_design/batch", text, instruct, language, options, f"texts.{i}")
             for i, (text, instruct, language) in enumerate(zip(body.texts, body.instructs, languages, strict=False))]
    results = await service.lifecycle.files(plans, request.is_disconnected, cached=True)
    return BatchAudio(audios=[base64.b64encode(data).decode() for data, _ in results],
                      sample_rate=plans[0].out_rate)
