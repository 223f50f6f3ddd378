"""The WebSocket text-in protocol of ``/v1/audio/speech/stream`` (see docs/live.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from flashtts.http.apis.common import GenerationFields, ResponseFormat, SpeedField


class StreamStart(GenerationFields, SpeedField):
    """The first message: how to speak everything that follows."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["start"] = "start"
    model: str = Field("tts-1", max_length=256)
    voice: str | None = Field(None, max_length=256, description="Built-in voice or role (engine default if omitted)")
    instructions: str | None = Field(None, max_length=4096)
    response_format: ResponseFormat = Field("pcm", description="Audio of binary frames; pcm is 24 kHz 16-bit mono")
    timestamps: bool = Field(False, description="Send 'speech.audio.words' messages with word timings")
    clause_chars: int = Field(120, ge=10, le=4096, description="Past this length a segment also ends at a clause mark")
    max_chars: int = Field(300, ge=10, le=4096, description="No segment waits past this length")


class TextMessage(BaseModel):
    """More text (an LLM's next tokens)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str = Field(max_length=4096)


class ControlMessage(BaseModel):
    """``flush``: speak what is pending now; ``end``: no more text, finish and close."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["flush", "end"]
