"""The Qwen3-TTS self-hosting plan's service (``/api/tts/synthesize``, ``/api/health``, ``/api/voices``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from flashtts.http.apis.common import GenerationFields, SpeechText


class SynthesizeRequest(GenerationFields):
    text: SpeechText = Field(min_length=1, max_length=5000, description="Text to speak")
    language: str = Field("zh", max_length=32, description="zh, en, ja, ko, ... (left out: detected)")
    speaker: str = Field("Vivian", min_length=1, max_length=64,
                         description="Voice: a voice or role here, or a Qwen3-TTS preset name "
                                     "(mapped to the closest voice)")
    instruct: str | None = Field(None, max_length=4096, description="Style instruction (engines that follow them)")
    speed: float | None = Field(1.0, ge=0.5, le=2.0)
    pitch: float | None = Field(1.0, ge=0.5, le=2.0)
    enable_streaming: bool = Field(False, description="Accepted; the answer is one JSON object either way")


class SynthesizeResponse(BaseModel):
    success: bool
    audio_url: str | None = None
    audio_base64: str | None = None
    duration: float = Field(description="Audio length in seconds")
    sample_rate: int = 24000
    processing_time: float = Field(description="Seconds spent on the request")
    message: str | None = None


class VoiceEntry(BaseModel):
    id: str
    name: str
    language: str | None = None
    gender: str | None = None
    description: str = ""


class VoicesResponse(BaseModel):
    voices: list[VoiceEntry]
