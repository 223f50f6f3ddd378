"""FlashTTS-compatible routes: cloning, role speech, dialogue and role management."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from flashtts.engine import capability_error
from flashtts.errors import APIError
from flashtts.http.apis import get_service, read_upload
from flashtts.http.apis.common import PronunciationsField
from flashtts.http.apis.flashtts.protocol import CloneForm, MultiSpeakRequest, RoleList, RoleResult, SpeakRequest
from flashtts.http.auth import require_api_key
from flashtts.http.responses import respond
from flashtts.http.security import current_client, http_caller
from flashtts.serving import SpeechService, Utterance
from flashtts.ssml import is_ssml

router = APIRouter(tags=["flashtts"], dependencies=[Depends(require_api_key)])


def _plan_kwargs(body) -> dict:
    return dict(response_format=body.response_format, options=body.generation_options(),
                length_threshold=body.length_threshold, window_size=body.window_size, stream=body.stream,
                text_param="text", normalize=body.normalize,
                pronunciations=body.lexicon() if isinstance(body, PronunciationsField) else None)


@router.post("/clone_voice", summary="Speak text in the voice of a reference clip")
async def clone_voice(
    request: Request,
    form: Annotated[CloneForm, Form()],
    service: SpeechService = Depends(get_service),
) -> Response:
    service.planning.check_text(form.text, "text")
    if not service.engine.info.capabilities.clone:
        raise capability_error(service.engine.info, "clone", "/clone_voice")
    roles = service.roles
    clip = await roles.audio_bytes(await read_upload(service, form.reference_audio_file, "reference_audio_file"),
                             form.reference_audio, "reference_audio")
    if clip is None:
        raise APIError("give reference_audio_file or reference_audio", param="reference_audio_file",
                       code="missing_audio")
    samples, rate = await service.voices.load_reference(clip, "reference_audio", current_client())
    voice = service.voices.reference_voice(samples, rate, form.reference_text)
    utt = Utterance(form.text, voice, instructions=form.instructions, speed=form.speed, pitch=form.pitch,
                    language=form.language)
    plan = await service.planning.plan("/clone_voice", [utt], caller=http_caller(), **_plan_kwargs(form))
    return await respond(service, plan, request, stream=form.stream)


@router.post("/speak", summary="Speak text as a role (or built-in voice)")
async def speak(body: SpeakRequest, request: Request, service: SpeechService = Depends(get_service)) -> Response:
    service.planning.check_text(body.text, "text")
    voice = service.voices.resolve_voice(body.name, "name")
    utt = Utterance(body.text, voice, instructions=body.instructions, speed=body.speed, pitch=body.pitch,
                    language=body.language)
    plan = await service.planning.plan("/speak", [utt], caller=http_caller(), **_plan_kwargs(body))
    return await respond(service, plan, request, stream=body.stream)


@router.post("/multi_speak", summary="Speak a dialogue: '<role:name>' tags choose the speaker")
async def multi_speak(body: MultiSpeakRequest, request: Request,
                      service: SpeechService = Depends(get_service)) -> Response:
    service.planning.check_text(body.text, "text")
    # an SSML document switches speakers with <voice name>; it starts in the engine's default voice
    default = service.engine.info.default_voice or ""
    turns = [(default, body.text)] if is_ssml(body.text) else service.planning.dialogue(body.text)
    utts = [Utterance(text, service.voices.resolve_voice(role, "text"), instructions=body.instructions,
                      speed=body.speed, pitch=body.pitch, language=body.language)
            for role, text in turns]
    plan = await service.planning.plan("/multi_speak", utts, caller=http_caller(), **_plan_kwargs(body))
    return await respond(service, plan, request, stream=body.stream)


@router.get("/audio_roles", response_model=RoleList, summary="Role names")
@router.get("/v1/audio_roles", response_model=RoleList, include_in_schema=False)
async def audio_roles(service: SpeechService = Depends(get_service)) -> RoleList:
    return RoleList(roles=[role.name for role in await service.roles.list()])


@router.post("/add_speaker", response_model=RoleResult, summary="Add a role from a reference clip or a voice preset")
async def add_speaker(
    name: str = Form(..., max_length=64),
    audio: str | None = Form(None, description="Reference clip as base64"),
    reference_text: str | None = Form(None, max_length=4096),
    audio_file: UploadFile | None = File(None, description="Reference clip file"),
    latent_file: UploadFile | None = File(None, description="MegaTTS latent (not used by flashtts engines)"),
    voice: str | None = Form(None, description="flashtts: built-in voice (or mix, af_bella(2)+af_sky(1)) this "
                                               "role speaks with"),
    instructions: str | None = Form(None, max_length=4096),
    speed: float | None = Form(None, ge=0.25, le=4.0),
    language: str | None = Form(None, max_length=32),
    overwrite: bool = Form(False),
    service: SpeechService = Depends(get_service),
) -> RoleResult:
    roles = service.roles
    clip = await roles.audio_bytes(await read_upload(service, audio_file, "audio_file"), audio, "audio")
    role = await roles.add(name, clip, client=current_client(), reference_text=reference_text, voice=voice,
                           instructions=instructions, speed=speed, language=language, overwrite=overwrite)
    return RoleResult(role=role.name)


@router.post("/delete_speaker", response_model=RoleResult, summary="Delete a role")
async def delete_speaker(name: str = Form(..., max_length=256),
                         service: SpeechService = Depends(get_service)) -> RoleResult:
    await service.roles.delete(name)
    return RoleResult(role=name)
