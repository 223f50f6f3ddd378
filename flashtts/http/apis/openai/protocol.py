"""OpenAI ``audio.speech`` protocol (openai-python v3) plus flashtts's extensions."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, Field

from flashtts.http.apis.common import GenerationFields, PronunciationsField, ResponseFormat, SpeechText, SpeedField


class VoiceId(BaseModel):
    id: str = Field(min_length=1, max_length=256)


class SpeechRequest(GenerationFields, SpeedField, PronunciationsField):
    model: str = Field("tts-1", max_length=256)
    input: SpeechText = Field(description="Text to speak: plain text (inline [word](/IPA/) and [pause:0.5s] "
                                          "forms read) or an SSML <speak> document (docs/ssml.md)")
    voice: str | VoiceId = Field(description="Built-in voice, role name, or {'id': ...}")
    instructions: str | None = Field(None, max_length=4096)
    response_format: ResponseFormat = "mp3"
    stream_format: Literal["audio", "sse"] = "audio"
    stream: bool = Field(True, description="flashtts: false returns one complete file with its duration header")
    timestamps: bool = Field(False, validation_alias=AliasChoices("timestamps", "include_timestamps"),
                             description="flashtts: word timings as 'speech.audio.words' SSE events "
                                         "(stream_format=sse; engines with the timestamps capability)")

    def voice_name(self) -> str:
        return self.voice.id if isinstance(self.voice, VoiceId) else self.voice


class Voice(BaseModel):
    """openai-python's ``types.audio.Voice`` (``object``, ``created_at``, ``type``) plus flashtts's fields."""

    id: str
    name: str
    object: Literal["audio.voice"] = "audio.voice"
    created_at: int = 0
    """Unix seconds the role was stored; 0 for the engine's built-in voices."""
    type: Literal["audio_sample", "prompt"] = "prompt"
    """``audio_sample`` for a role cloned from a clip; ``prompt`` for built-in voices and preset roles."""
    kind: Literal["builtin", "role"] = "builtin"
    description: str = ""
    language: str | None = None
    preview_url: str | None = None


class VoiceList(BaseModel):
    object: str = "list"
    data: list[Voice]
    voices: list[Voice] = Field(default_factory=list, description="Same list, for clients that read 'voices'")


class Model(BaseModel):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "flashtts"
    name: str | None = None


class ModelList(BaseModel):
    object: str = "list"
    data: list[Model]
    models: list[Model] = Field(default_factory=list, description="Same list, for clients that read 'models' "
                                                                  "(Open WebUI's /audio/models)")
