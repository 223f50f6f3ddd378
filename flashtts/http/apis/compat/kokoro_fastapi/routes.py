"""Kokoro-FastAPI's development routes: ``POST /dev/phonemize`` and ``POST /dev/generate_from_phonemes``.

Same answers and errors as flashtts's own phoneme routes (:mod:`flashtts.http.apis.phonemes.routes`): an
engine without the ``phonemes`` capability answers 400. Kokoro's language codes (``a``, ``b``...)
are not languages of the other engines: the voice's own language is used.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from flashtts.http.apis import get_service
from flashtts.http.apis.phonemes.protocol import DevPhonemes, DevPhonemeSpeechRequest, DevPhonemizeRequest
from flashtts.http.apis.phonemes.routes import phoneme_plan
from flashtts.http.auth import require_api_key
from flashtts.http.responses import respond
from flashtts.http.security import http_caller
from flashtts.serving import SpeechService, Utterance

router = APIRouter(prefix="/dev", tags=["compat: Kokoro-FastAPI"], dependencies=[Depends(require_api_key)])


@router.post("/phonemize", response_model=DevPhonemes, summary="Text to phonemes (Kokoro-FastAPI)")
async def phonemize(body: DevPhonemizeRequest, service: SpeechService = Depends(get_service)) -> DevPhonemes:
    service.planning.check_text(body.text, "text")
    voice = await service.roles.voice_from(service.engine.info.default_voice or "", "voice",
                                           client=http_caller().client)
    said = await service.markup.phonemes_of(Utterance(body.text, voice), normalize=True,
                                            lexicon=service.markup.lexicon(), param="text")
    return DevPhonemes(phonemes=said)


@router.post("/generate_from_phonemes", summary="Speech from phonemes, as WAV (Kokoro-FastAPI)",
             responses={200: {"content": {"audio/wav": {}}}})
async def generate_from_phonemes(body: DevPhonemeSpeechRequest, request: Request,
                                 service: SpeechService = Depends(get_service)) -> Response:
    plan = await phoneme_plan(service, "/dev/generate_from_phonemes", body.phonemes, body.voice, body.speed, "wav")
    return await respond(service, plan, request, stream=False)
