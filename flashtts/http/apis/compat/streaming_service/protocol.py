"""The Qwen-TTS streaming service (``/stream-tts``, ``/tts`` with ``voice_attributes``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flashtts.http.apis.common import GenerationFields


class VoiceAttributes(BaseModel):
    model_config = ConfigDict(extra="ignore")

    gender: Literal["male", "female", "neutral"] | None = None
    age: int | None = Field(default=None, ge=1, le=120)
    emotion: str | None = Field(default=None, max_length=64, description="happy, sad, angry, neutral, ...")

    @field_validator("gender", "emotion", mode="before")
    @classmethod
    def _lower(cls, v):
        return v.strip().lower() if isinstance(v, str) else v


class StreamTTSRequest(GenerationFields):
    text: str | None = Field(default=None, description="Text to speak")
    tokens: list[int] | None = Field(default=None, description="Not supported here: send text")
    max_length: int | None = Field(default=None, ge=1, le=4096, description="Most audio tokens (frames) to generate")
    voice_attributes: VoiceAttributes | None = None


class FullTTSRequest(GenerationFields):
    text: str = Field(description="Text to speak")
    format: Literal["wav", "mp3", "ogg", "opus", "flac", "aac", "pcm"] = "wav"
    max_length: int | None = Field(default=None, ge=1, le=4096, description="Most audio tokens (frames) to generate")
    voice_attributes: VoiceAttributes | None = None
