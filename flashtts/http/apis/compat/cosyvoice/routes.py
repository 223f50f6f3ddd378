"""CosyVoice's FastAPI server: ``/inference_sft``, ``/inference_zero_shot``,
``/inference_cross_lingual``, ``/inference_instruct``, ``/inference_instruct2`` (GET and POST,
form fields), answered as a stream of 16-bit mono PCM at 22,050 Hz, CosyVoice-300M's rate.

CosyVoice's own ``client.py`` sends GET and reads the body as raw int16 samples, which it saves
at 22,050 Hz; the document's curl and ``requests`` examples POST and save the body as a
``.wav`` file. So GET answers raw PCM and POST a WAV stream (header, then the same PCM);
the ``format`` field (``wav`` | ``pcm``) overrides either.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import Response

from flashtts.engine import GenerationOptions
from flashtts.errors import APIError
from flashtts.http.apis import get_service, read_upload
from flashtts.http.apis.compat.cosyvoice.protocol import (
    CrossLingualForm,
    Instruct2Form,
    InstructForm,
    SftForm,
    ZeroShotForm,
)
from flashtts.http.apis.compat.serving import require
from flashtts.http.auth import require_api_key
from flashtts.http.responses import respond
from flashtts.http.security import current_client, http_caller
from flashtts.serving import SpeechService, Utterance, VoiceChoice

router = APIRouter(tags=["compat: CosyVoice"], dependencies=[Depends(require_api_key)])

SAMPLE_RATE = 22050
"""CosyVoice-300M's output rate; its client.py saves what it receives at this rate."""

METHODS = ["GET", "POST"]


async def _stream(service: SpeechService, request: Request, route: str, utt: Utterance, fmt: str | None) -> Response:
    fmt = fmt or ("pcm" if request.method == "GET" else "wav")
    plan = await service.planning.plan(route, [utt], response_format=fmt, options=GenerationOptions(), stream=True,
                              text_param="tts_text", caller=http_caller())
    plan.out_rate = SAMPLE_RATE
    response = await respond(service, plan, request, stream=True)
    response.headers["X-Custom-Header-sampleRate"] = str(SAMPLE_RATE)
    if fmt == "pcm":
        response.headers["content-type"] = "application/octet-stream"
    return response


async def _prompt_voice(service: SpeechService, upload: UploadFile, text: str | None) -> VoiceChoice:
    clip = await read_upload(service, upload, "prompt_wav")
    if clip is None:
        raise APIError("prompt_wav is empty", param="prompt_wav", code="missing_audio")
    samples, rate = await service.voices.load_reference(clip, "prompt_wav", current_client())
    return service.voices.reference_voice(samples, rate, text or None)


@router.api_route("/inference_sft", methods=METHODS, summary="Speak with a preset speaker (spk_id)")
async def inference_sft(request: Request, form: Annotated[SftForm, Form()],
                        service: SpeechService = Depends(get_service)) -> Response:
    service.planning.check_text(form.tts_text, "tts_text")
    voice = service.voices.resolve_voice(form.spk_id, "spk_id")
    return await _stream(service, request, "/inference_sft", Utterance(form.tts_text, voice, speed=form.speed),
                         form.format)


@router.api_route("/inference_zero_shot", methods=METHODS,
                  summary="Clone the voice of prompt_wav (with its transcript)")
async def inference_zero_shot(request: Request, form: Annotated[ZeroShotForm, Form()],
                              service: SpeechService = Depends(get_service)) -> Response:
    service.planning.check_text(form.tts_text, "tts_text")
    require(service, "clone", "/inference_zero_shot (cloning the voice of prompt_wav)")
    voice = await _prompt_voice(service, form.prompt_wav, form.prompt_text)
    return await _stream(service, request, "/inference_zero_shot", Utterance(form.tts_text, voice, speed=form.speed),
                         form.format)


@router.api_route("/inference_cross_lingual", methods=METHODS,
                  summary="Clone the voice of prompt_wav, speaking another language")
async def inference_cross_lingual(request: Request, form: Annotated[CrossLingualForm, Form()],
                                  service: SpeechService = Depends(get_service)) -> Response:
    service.planning.check_text(form.tts_text, "tts_text")
    require(service, "clone", "/inference_cross_lingual (cloning the voice of prompt_wav)")
    voice = await _prompt_voice(service, form.prompt_wav, None)
    return await _stream(service, request, "/inference_cross_lingual",
                         Utterance(form.tts_text, voice, speed=form.speed), form.format)


@router.api_route("/inference_instruct", methods=METHODS, summary="Preset speaker with a style instruction")
async def inference_instruct(request: Request, form: Annotated[InstructForm, Form()],
                             service: SpeechService = Depends(get_service)) -> Response:
    service.planning.check_text(form.tts_text, "tts_text")
    require(service, "instructions", "/inference_instruct (instruct_text)")
    voice = service.voices.resolve_voice(form.spk_id, "spk_id")
    utt = Utterance(form.tts_text, voice, instructions=form.instruct_text, speed=form.speed)
    return await _stream(service, request, "/inference_instruct", utt, form.format)


@router.api_route("/inference_instruct2", methods=METHODS, summary="Clone prompt_wav's voice with a style instruction")
async def inference_instruct2(request: Request, form: Annotated[Instruct2Form, Form()],
                              service: SpeechService = Depends(get_service)) -> Response:
    service.planning.check_text(form.tts_text, "tts_text")
    require(service, "clone", "/inference_instruct2 (cloning the voice of prompt_wav)")
    require(service, "instructions", "/inference_instruct2 (instruct_text)")
    voice = await _prompt_voice(service, form.prompt_wav, None)
    utt = Utterance(form.tts_text, voice, instructions=form.instruct_text, speed=form.speed)
    return await _stream(service, request, "/inference_instruct2", utt, form.format)
