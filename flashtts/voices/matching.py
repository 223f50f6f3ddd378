"""Voice traits (gender, age, language) and the names other systems give voices.

FlashTTS's examples say ``male``/``female``, Qwen3-TTS and CosyVoice name their preset speakers;
:func:`match_voice` maps such a name (or a voice id in another case) to the closest voice the
engine has, so a client written for another server is answered rather than refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from flashtts.engine import EngineInfo
from flashtts.text.languages import language_code


@dataclass(frozen=True)
class Traits:
    gender: str | None = None
    """male | female"""
    age: str | None = None
    """child | young | adult | senior"""
    language: str | None = None
    """ISO 639-1 code"""


KNOWN_VOICES: dict[str, Traits] = {
    # Qwen3-TTS CustomVoice preset speakers
    "vivian": Traits("female", "young", "zh"),
    "serena": Traits("female", "young", "zh"),
    "uncle_fu": Traits("male", "senior", "zh"),
    "dylan": Traits("male", "young", "zh"),
    "eric": Traits("male", "young", "zh"),
    "ryan": Traits("male", "adult", "en"),
    "aiden": Traits("male", "young", "en"),
    "ono_anna": Traits("female", "young", "ja"),
    "sohee": Traits("female", "young", "ko"),
    # CosyVoice-300M SFT speakers
    "中文女": Traits("female", None, "zh"),
    "中文男": Traits("male", None, "zh"),
    "日语男": Traits("male", None, "ja"),
    "粤语女": Traits("female", None, "zh"),
    "英文女": Traits("female", None, "en"),
    "英文男": Traits("male", None, "en"),
    "韩语女": Traits("female", None, "ko"),
    # Piper voices that ship as wheels
    "joe": Traits("male", "adult", "en"),
    # FlashTTS's own examples (client.py's ``male``, the docs' ``<role:female>``)
    "male": Traits("male"),
    "female": Traits("female"),
    "man": Traits("male", "adult"),
    "woman": Traits("female", "adult"),
}
"""Voices other systems name, with what they sound like (used to pick the closest voice here)."""


def voice_traits(voice_id: str, info: EngineInfo) -> Traits:
    known = KNOWN_VOICES.get(voice_id.lower())
    if known is not None:
        return known
    voice = next((v for v in info.voices if v.id == voice_id), None)
    text = f" {voice.description.lower()} " if voice is not None else ""
    gender = "female" if any(w in text for w in (" female", " woman", "女")) else (
        "male" if any(w in text for w in (" male", " man", "男")) else None)
    return Traits(gender, None, language_code(voice.language) if voice is not None and voice.language else None)


def age_group(age: int | None) -> str | None:
    if age is None:
        return None
    return "child" if age < 13 else "young" if age < 36 else "adult" if age < 60 else "senior"


def closest_voice(info: EngineInfo, want: Traits) -> str | None:
    """The engine voice that best matches: gender first, then language, then age; engine order breaks ties."""
    best: tuple[int, bool, int] | None = None
    choice = info.default_voice
    for order, voice in enumerate(info.voices):
        have = voice_traits(voice.id, info)
        score = (4 * (want.gender is not None and have.gender == want.gender)
                 + 2 * (want.language is not None and have.language == want.language)
                 + (want.age is not None and have.age == want.age))
        key = (score, voice.id == info.default_voice, -order)
        if best is None or key > best:
            best, choice = key, voice.id
    return choice


def match_voice(info: EngineInfo, name: str) -> str | None:
    """The engine voice for ``name``: the voice id in any case, or the closest voice to a name
    :data:`KNOWN_VOICES` lists; None when neither."""
    folded = {v.id.lower(): v.id for v in info.voices}
    key = name.lower()
    if key in folded:
        return folded[key]
    traits = KNOWN_VOICES.get(key)
    if traits is not None and info.voices:
        return closest_voice(info, traits)
    return None
