"""FlashTTS's own request models (``/speak``, ``/multi_speak``; ``/clone_voice`` is a form)."""

from __future__ import annotations

from fastapi import UploadFile
from pydantic import BaseModel, Field, field_validator

from flashtts.http.apis.common import (
    GenerationFields,
    PronunciationsField,
    ResponseFormat,
    SpeechText,
    SpeedField,
    level_or_number,
    reject_bool,
)


class _Synthesis(GenerationFields, SpeedField):
    text: SpeechText
    pitch: float | None = Field(None, description="0.5-2.0, or a FlashTTS level name (very_low .. very_high)")
    instructions: str | None = Field(None, max_length=4096)
    stream: bool = False
    response_format: ResponseFormat = "mp3"

    @field_validator("pitch", mode="before")
    @classmethod
    def _pitch(cls, v):
        value = level_or_number(reject_bool(v), "pitch")
        if value is not None and not 0.5 <= value <= 2.0:
            raise ValueError("pitch must be between 0.5 and 2.0")
        return value


class SpeakRequest(_Synthesis, PronunciationsField):
    name: str = Field(min_length=1, max_length=64, description="Role (or built-in voice) to speak with")


class MultiSpeakRequest(_Synthesis, PronunciationsField):
    """``text`` holds ``<role:name>`` tags that choose the speaker of what follows."""


class RoleList(BaseModel):
    success: bool = True
    roles: list[str]


class RoleResult(BaseModel):
    success: bool = True
    role: str


class CloneForm(_Synthesis):
    """``/clone_voice`` form fields.

    The upload is a field of the model, not a separate ``File()`` parameter: FastAPI before 0.137
    (vLLM pins ``fastapi<0.137``) cannot combine a form model with other body parameters.
    """

    reference_audio: str | None = Field(None, description="Reference clip as base64 (URLs only when enabled)")
    reference_text: str | None = Field(None, max_length=4096)
    reference_audio_file: UploadFile | None = Field(None, description="Reference clip (wav/mp3/m4a/ogg/flac)")
