"""Fields shared by every synthesis request model (declared once, reused by each API)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from flashtts.engine import GenerationOptions
from flashtts.ssml import Lexicon, entries_from_json

ResponseFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


# The text a request asks to be spoken: blank text is refused (the error names the field).
SpeechText = Annotated[str, AfterValidator(_not_blank)]

# FlashTTS's five-step scales for speed and pitch
LEVELS = {"very_low": 0.7, "low": 0.85, "moderate": 1.0, "high": 1.15, "very_high": 1.3}
Level = Literal["very_low", "low", "moderate", "high", "very_high"]


class GenerationFields(BaseModel):
    """Sampling and segmentation options accepted by every synthesis route."""

    model_config = ConfigDict(extra="ignore")

    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_k: int | None = Field(None, ge=0, le=1000)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    min_p: float | None = Field(None, ge=0.0, le=1.0, description="Drop tokens below min_p x the most likely")
    repetition_penalty: float | None = Field(None, ge=0.5, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=32768, description="Most audio tokens (frames) to generate")
    max_new_tokens: int | None = Field(None, ge=1, le=32768, description="Alias of max_tokens")
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    language: str | None = Field(None, max_length=32)
    length_threshold: int | None = Field(None, ge=1, le=100000, description="Split texts longer than this")
    window_size: int | None = Field(None, ge=1, le=100000, description="Target segment length when splitting")
    normalize: bool = Field(True, description="flashtts: read Markdown, emoji, URLs, numbers, dates and units as "
                                              "a person would (docs/clients.md); false speaks the text as given")

    @field_validator("temperature", "top_k", "top_p", "repetition_penalty", "max_tokens", "max_new_tokens", "seed",
                     mode="before")
    @classmethod
    def _not_bool(cls, v):
        return reject_bool(v)

    def generation_options(self) -> GenerationOptions:
        return GenerationOptions(
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            min_p=self.min_p,
            repetition_penalty=self.repetition_penalty,
            max_new_tokens=self.max_new_tokens or self.max_tokens,
            seed=self.seed,
        )


MAX_PRONUNCIATIONS = 100
"""Most lexicon entries one request may carry."""


class PronunciationsField(BaseModel):
    """A request's own lexicon entries (docs/ssml.md), over the server's ``--lexicon``."""

    pronunciations: list[dict[str, str]] | dict[str, str] | None = Field(
        None, description="flashtts: how to say words: [{\"word\", \"ipa\", \"respelling\"}] or "
                          "{\"word\": \"/IPA/ respelling\"}; IPA for phoneme engines, the respelling for the others")

    @field_validator("pronunciations")
    @classmethod
    def _entries(cls, value):
        if value is not None:
            if len(value) > MAX_PRONUNCIATIONS:
                raise ValueError(f"at most {MAX_PRONUNCIATIONS} entries")
            entries_from_json(value)
        return value

    def lexicon(self) -> Lexicon | None:
        """The entries as a lexicon (None when there are none)."""
        return Lexicon(entries_from_json(self.pronunciations)) if self.pronunciations else None


def reject_bool(value):
    """JSON ``true``/``false`` is not a number (pydantic would take it as 1/0)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def level_or_number(value: str | float | int | None, name: str) -> float | None:
    """A FlashTTS level name or a number, as a multiplier."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{name} must be a number or one of {', '.join(LEVELS)}")
    if isinstance(value, str):
        if value in LEVELS:
            return LEVELS[value]
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{name} must be a number or one of {', '.join(LEVELS)}") from None
    return float(value)


class SpeedField(BaseModel):
    speed: float | None = Field(None, description="0.25-4.0, or a FlashTTS level name (very_low .. very_high)")

    @field_validator("speed", mode="before")
    @classmethod
    def _speed(cls, v):
        value = level_or_number(reject_bool(v), "speed")
        if value is not None and not 0.25 <= value <= 4.0:
            raise ValueError("speed must be between 0.25 and 4.0")
        return value
