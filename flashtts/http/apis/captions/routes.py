"""Captioned speech: a complete file and the time each word is spoken, in one JSON answer."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from flashtts.http.apis import get_service
from flashtts.http.apis.openai.protocol import SpeechRequest
from flashtts.http.apis.openai.routes import speech_plan
from flashtts.http.auth import require_api_key
from flashtts.serving import SpeechService

router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Depends(require_api_key)])


class Word(BaseModel):
    word: str
    start: float = Field(description="Seconds from the start of the audio")
    end: float


class CaptionedSpeech(BaseModel):
    audio: str = Field(description="The whole file, base64")
    format: str
    duration: float = Field(description="Seconds of audio")
    words: list[Word]


@router.post("/audio/speech/captioned", response_model=CaptionedSpeech,
             summary="Speak text; the audio (base64) with each word's start and end (engines with timestamps)")
async def captioned_speech(body: SpeechRequest, request: Request,
                           service: SpeechService = Depends(get_service)) -> CaptionedSpeech:
    body = body.model_copy(update={"timestamps": True})
    plan = await speech_plan(service, body, "/v1/audio/speech/captioned", stream=False)
    data, seconds = await service.lifecycle.file(plan, request.is_disconnected)
    return CaptionedSpeech(audio=base64.b64encode(data).decode(), format=plan.response_format,
                           duration=round(seconds, 4), words=[Word(**w.as_dict()) for w in plan.words])
