"""Serving logic shared by the compatibility routes (``flashtts.http.apis.compat``).

* voice names other systems use (Qwen3-TTS's nine preset speakers, CosyVoice's SFT speakers)
  resolved to the closest voice this engine has;
* voice attributes (gender, age, emotion) mapped to a voice and, where the engine follows
  instructions, a style instruction;
* complete-file answers' headers (the files themselves, with the result cache, come from the serving
  lifecycle: :meth:`flashtts.serving.lifecycle.Lifecycle.files`).
"""

from __future__ import annotations

import logging
import time

from fastapi.responses import Response

from flashtts.engine import capability_error
from flashtts.serving import Plan, SpeechService, VoiceChoice
from flashtts.text.scripts import guess_language
from flashtts.voices.matching import KNOWN_VOICES, Traits, age_group, closest_voice, voice_traits  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


def default_voice(service: SpeechService, label: str = "default") -> VoiceChoice:
    return VoiceChoice(label=label, voice=service.engine.info.default_voice)


# ---- voice attributes (gender / age / emotion) ----------------------------------------------
EMOTIONS = {
    "happy": "a happy, cheerful tone",
    "sad": "a sad, subdued tone",
    "angry": "an angry, intense tone",
    "neutral": "a calm, neutral tone",
    "excited": "an excited, energetic tone",
    "calm": "a calm, relaxed tone",
    "fearful": "a fearful, anxious tone",
    "surprised": "a surprised tone",
    "disgusted": "a disgusted tone",
}


def attribute_instructions(gender: str | None, age: int | None, emotion: str | None) -> str | None:
    """A style instruction (English, as Qwen3-TTS's instruct models understand) from voice attributes."""
    who = {"male": "man", "female": "woman"}.get(gender or "", "person")
    parts = []
    if age is not None:
        parts.append(f"Speak as a {age}-year-old {who}")
    elif gender in ("male", "female"):
        parts.append(f"Speak as a {who}")
    if emotion:
        tone = EMOTIONS.get(emotion.lower(), f"a {emotion.lower()} tone")
        parts.append(f"{'in' if parts else 'Speak in'} {tone}")
    return (" ".join(parts) + ".") if parts else None


def voice_for_attributes(service: SpeechService, gender: str | None, age: int | None, emotion: str | None,
                         text: str) -> VoiceChoice:
    """The closest voice for the attributes, with them as instructions where the engine follows any.

    On an engine without instructions the attributes only choose the voice (never an error).
    """
    info = service.engine.info
    caps = info.capabilities
    want = Traits(gender if gender in ("male", "female") else None, age_group(age), guess_language(text))
    voice = closest_voice(info, want) if info.voices else info.default_voice
    instructions = attribute_instructions(gender, age, emotion) if caps.follows_instructions else None
    label = "/".join(str(x) for x in (gender, age, emotion) if x is not None) or "default"
    return VoiceChoice(label=label, voice=voice, instructions=instructions)


# ---- capabilities ---------------------------------------------------------------------------
def require(service: SpeechService, capability: str, what: str) -> None:
    """Refuse up front (before reading uploads) what the engine cannot do: a 400 naming what it can."""
    info = service.engine.info
    if not info.capabilities.has(capability):
        raise capability_error(info, capability, what)


# ---- complete answers ------------------------------------------------------------------------
def file_response(plan: Plan, data: bytes, seconds: float, media_type: str) -> Response:
    """A complete audio file with flashtts's usual headers."""
    return Response(data, media_type=media_type, headers={
        "X-Request-Id": plan.request_id, "X-Audio-Duration": f"{seconds:.4f}",
        "Content-Disposition": f'inline; filename="speech.{plan.response_format}"'})


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 4)
