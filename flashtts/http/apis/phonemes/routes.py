"""Phoneme routes: ``POST /v1/audio/phonemize`` and ``POST /v1/audio/speech/from_phonemes``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from flashtts.engine import GenerationOptions
from flashtts.http.apis import get_service
from flashtts.http.apis.phonemes.protocol import Phonemes, PhonemeSpeechRequest, PhonemizeRequest
from flashtts.http.auth import require_api_key
from flashtts.http.responses import respond
from flashtts.http.security import http_caller
from flashtts.serving import Plan, SpeechService, Utterance

router = APIRouter(prefix="/v1/audio", tags=["phonemes"], dependencies=[Depends(require_api_key)])


@router.post("/phonemize", response_model=Phonemes, summary="The phonemes the engine would say for a text")
async def phonemize(body: PhonemizeRequest, service: SpeechService = Depends(get_service)) -> Phonemes:
    service.planning.check_text(body.input, "input")
    voice = await service.roles.voice_from(body.voice or service.engine.info.default_voice or "", "voice",
                                           client=http_caller().client)
    utt = Utterance(body.input, voice, language=body.language)
    lexicon = service.markup.lexicon(body.lexicon(), voice.lexicon)
    said = await service.markup.phonemes_of(utt, normalize=body.normalize, lexicon=lexicon)
    info = service.engine.info
    return Phonemes(phonemes=said, alphabet=str(info.extra.get("phoneme_alphabet", "ipa")), engine=info.name,
                    voice=voice.voice)


async def phoneme_plan(service: SpeechService, route: str, phonemes: str, voice_name: str | None,
                       speed: float | None, response_format: str) -> Plan:
    """A plan that says ``phonemes`` as written (400 on engines without the ``phonemes`` capability)."""
    service.planning.check_text(phonemes, "phonemes")
    voice = await service.roles.voice_from(voice_name or service.engine.info.default_voice or "", "voice",
                                           client=http_caller().client)
    return await service.planning.plan(route, [Utterance(phonemes, voice, speed=speed, phonemes=True)],
                              response_format=response_format, options=GenerationOptions(), text_param="phonemes",
                              normalize=False, caller=http_caller())


@router.post("/speech/from_phonemes", summary="Speak phonemes given in IPA (engines with the phonemes capability)",
             responses={200: {"content": {"audio/wav": {}}}})
async def speech_from_phonemes(body: PhonemeSpeechRequest, request: Request,
                               service: SpeechService = Depends(get_service)) -> Response:
    plan = await phoneme_plan(service, "/v1/audio/speech/from_phonemes", body.phonemes, body.voice, body.speed,
                              body.response_format)
    return await respond(service, plan, request, stream=body.stream)
