"""CosyVoice's FastAPI server: form fields of ``/inference_*`` (GET and POST)."""

from __future__ import annotations

from typing import Literal

from fastapi import UploadFile
from pydantic import BaseModel, Field

from flashtts.http.apis.common import SpeechText


class _Form(BaseModel):
    tts_text: SpeechText = Field(description="Text to speak")
    speed: float | None = Field(None, ge=0.25, le=4.0, description="flashtts: speaking rate")
    format: Literal["wav", "pcm"] | None = Field(
        None, description="flashtts: wav (header + 16-bit PCM) or pcm (raw 16-bit PCM); default: pcm for GET "
                          "(CosyVoice's client.py), wav for POST (the documented curl/requests examples)")


class SftForm(_Form):
    spk_id: str = Field(min_length=1, max_length=64, description="Speaker: 中文女, 中文男, ..., a voice or a role")


class _PromptForm(_Form):
    """The prompt clip is a field of the form model, not a separate ``File()`` parameter: FastAPI before
    0.137 (vLLM pins ``fastapi<0.137``) cannot combine a form model with other body parameters."""

    prompt_wav: UploadFile = Field(description="Prompt clip (WAV, >= 16 kHz, <= 30 s)")


class ZeroShotForm(_PromptForm):
    prompt_text: str = Field(max_length=4096, description="Transcript of prompt_wav")


class CrossLingualForm(_PromptForm):
    pass


class InstructForm(_Form):
    spk_id: str = Field(min_length=1, max_length=64)
    instruct_text: str = Field(min_length=1, max_length=4096)


class Instruct2Form(_PromptForm):
    instruct_text: str = Field(min_length=1, max_length=4096)
