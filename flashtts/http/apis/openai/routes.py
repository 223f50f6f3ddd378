"""OpenAI-compatible routes: ``/v1/audio/speech``, ``/v1/audio/voices``, ``/v1/models``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response

from flashtts.config.settings import ServerConfig
from flashtts.errors import APIError, NotFoundError
from flashtts.http.apis import get_service, read_upload
from flashtts.http.apis.openai.protocol import Model, ModelList, SpeechRequest, Voice, VoiceList
from flashtts.http.auth import require_api_key
from flashtts.http.responses import respond
from flashtts.http.security import current_client, http_caller
from flashtts.serving import Plan, SpeechService, Utterance
from flashtts.voices.mixing import looks_like_mix

LISTINGS = ("/v1/models", "/v1/audio/models", "/v1/audio/voices")
"""Lists of names that ``--open_listings`` serves without a key (Open WebUI lists without sending one)."""


async def _key_unless_open_listing(request: Request) -> None:
    config: ServerConfig = request.app.state.config
    if config.open_listings and request.method == "GET" and request.url.path in LISTINGS:
        return
    await require_api_key(request)


router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Depends(_key_unless_open_listing)])


@router.post("/audio/speech", summary="Speak text (OpenAI audio.speech)",
             responses={200: {"content": {"audio/mpeg": {}, "text/event-stream": {}}}})
async def speech(body: SpeechRequest, request: Request, service: SpeechService = Depends(get_service)) -> Response:
    sse = body.stream_format == "sse"
    if body.timestamps and not sse:
        raise APIError("word timestamps come as SSE events: send stream_format 'sse', or POST "
                       "/v1/audio/speech/captioned for a complete file with its words", param="timestamps")
    plan = await speech_plan(service, body, "/v1/audio/speech", stream=body.stream or sse)
    return await respond(service, plan, request, stream=body.stream, sse=sse)


async def speech_plan(service: SpeechService, body: SpeechRequest, route: str, *, stream: bool) -> Plan:
    """Check and plan one ``audio.speech`` request (word timings when ``body.timestamps``)."""
    service.planning.check_text(body.input, "input")
    caller = http_caller()
    voice = await service.roles.voice_from(body.voice_name(), "voice", client=caller.client)
    return await service.planning.plan(
        route,
        [Utterance(body.input, voice, instructions=body.instructions, speed=body.speed, language=body.language)],
        response_format=body.response_format, options=body.generation_options(),
        length_threshold=body.length_threshold, window_size=body.window_size,
        stream=stream, timestamps=body.timestamps, optional_instructions=True, normalize=body.normalize,
        caller=caller,
        pronunciations=body.lexicon(),
    )


async def voice_list(service: SpeechService) -> list[Voice]:
    info = service.engine.info
    voices = [Voice(id=v.id, name=v.name, kind="builtin", description=v.description, language=v.language)
              for v in info.voices]
    voices += [role_voice(role) for role in await service.roles.list()]
    return voices


def role_voice(role) -> Voice:
    """A role as an ``audio.voice`` object."""
    description = role.description or (f"mix {role.voice}" if role.voice and looks_like_mix(role.voice) else "")
    return Voice(id=role.name, name=role.name, kind="role", description=description, language=role.language,
                 created_at=int(role.created_at or 0), type="audio_sample" if role.has_audio else "prompt",
                 preview_url=f"/v1/audio/voices/{role.name}/reference" if role.has_audio else None)


@router.get("/audio/voices", response_model=VoiceList, summary="Built-in voices and roles")
async def list_voices(service: SpeechService = Depends(get_service)) -> VoiceList:
    voices = await voice_list(service)
    return VoiceList(data=voices, voices=voices)


@router.post("/audio/voices", response_model=Voice, summary="Create a voice (role) from a reference clip")
async def create_voice(
    name: str = Form(..., max_length=64),
    audio_sample: UploadFile | None = File(None, description="Reference clip (wav/mp3/m4a/ogg/flac), max 10 MiB"),
    file: UploadFile | None = File(None, description="Alias of audio_sample"),
    reference_text: str | None = Form(None, max_length=4096, description="Transcript of the clip"),
    language: str | None = Form(None, max_length=32),
    instructions: str | None = Form(None, max_length=4096),
    voice: str | None = Form(None, max_length=1024, description="flashtts: a built-in voice or a mix "
                                                                "(af_bella(2)+af_sky(1)) instead of a clip"),
    overwrite: bool = Form(False),
    service: SpeechService = Depends(get_service),
) -> Voice:
    upload = audio_sample or file
    clip = await read_upload(service, upload, "audio_sample")
    role = await service.roles.add(name, clip, client=current_client(), reference_text=reference_text,
                                   language=language, voice=voice, instructions=instructions, overwrite=overwrite,
                                   param="audio_sample")
    return role_voice(role)


@router.delete("/audio/voices/{voice_id}", summary="Delete a role")
async def delete_voice(voice_id: str, service: SpeechService = Depends(get_service)) -> dict:
    await service.roles.delete(voice_id)
    return {"id": voice_id, "object": "audio.voice.deleted", "deleted": True}


@router.get("/audio/voices/{voice_id}/reference", summary="A role's reference clip (WAV)")
async def voice_reference(voice_id: str, service: SpeechService = Depends(get_service)) -> FileResponse:
    path = service.registry.audio_path(voice_id)  # an impossible name is a 404 too (one error mapping)
    if path is None:
        raise NotFoundError(f"voice '{voice_id}' has no reference audio", param="voice_id")
    return FileResponse(path, media_type="audio/wav")


@router.get("/models", response_model=ModelList, summary="Models (any id is accepted by /audio/speech)")
@router.get("/audio/models", response_model=ModelList, summary="Speech models, also as 'models' (Open WebUI)")
async def models(service: SpeechService = Depends(get_service)) -> ModelList:
    info = service.engine.info
    ids = dict.fromkeys([info.name, "tts-1", "tts-1-hd", "gpt-4o-mini-tts"])
    data = [Model(id=i, name=i) for i in ids]
    return ModelList(data=data, models=data)

