"""Qwen3-TTS FastAPI deployment (``/tts/voice_design``, ``/tts/voice_design/batch``, ``/languages``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from flashtts.http.apis.common import GenerationFields, SpeechText

MAX_BATCH = 32


class VoiceDesignRequest(GenerationFields):
    """One text in a voice described in words. Sampling defaults (max_new_tokens 2048,
    temperature 0.9, top_p 1.0, top_k 50) are the engine's own when a field is left out."""

    text: SpeechText = Field(description="Text to speak")
    instruct: str = Field(min_length=1, max_length=4096, description="Voice and style described in words")
    language: str = Field("Auto", max_length=32, description="Auto, Chinese, English, Japanese, ...")
    response_format: Literal["wav", "base64"] = Field("wav", description="wav: the file; base64: JSON")


class VoiceDesignBatchRequest(GenerationFields):
    texts: list[str] = Field(min_length=1, max_length=MAX_BATCH)
    instructs: list[str] = Field(min_length=1, max_length=MAX_BATCH)
    languages: list[str] | None = Field(None, max_length=MAX_BATCH, description="Default: Auto for every text")

    @model_validator(mode="after")
    def _lengths(self) -> VoiceDesignBatchRequest:
        if len(self.instructs) != len(self.texts):
            raise ValueError(f"instructs has {len(self.instructs)} items; texts has {len(self.texts)}: "
                             "give one instruct per text")
        if self.languages is not None and len(self.languages) != len(self.texts):
            raise ValueError(f"languages has {len(self.languages)} items; texts has {len(self.texts)}")
        return self


class AudioBase64(BaseModel):
    audio_base64: str
    sample_rate: int = 24000
    format: str = "wav"


class BatchAudio(BaseModel):
    audios: list[str] = Field(description="Base64 WAV files, in the order of texts")
    sample_rate: int = 24000
    format: str = "wav"


class Languages(BaseModel):
    languages: list[str]
