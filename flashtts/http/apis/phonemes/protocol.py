"""Phoneme endpoints: text to the phonemes an engine would say, and speech from phonemes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from flashtts.http.apis.common import PronunciationsField, ResponseFormat, SpeechText, SpeedField


class PhonemizeRequest(PronunciationsField):
    input: SpeechText = Field(description="Text (inline forms read, or an SSML document) to phonemise")
    voice: str | None = Field(None, max_length=256, description="Voice or role (engine default if omitted)")
    language: str | None = Field(None, max_length=32)
    normalize: bool = Field(True, description="Read numbers, symbols and inline forms first, as speech does")


class Phonemes(BaseModel):
    phonemes: str
    alphabet: str = Field(description="How the phonemes are written (espeak-ipa: espeak-ng's IPA)")
    engine: str
    voice: str | None


class PhonemeSpeechRequest(SpeedField):
    phonemes: SpeechText = Field(description="Phonemes in the engine's alphabet (IPA), sentence marks kept")
    voice: str | None = Field(None, max_length=256, description="Voice or role (engine default if omitted)")
    response_format: ResponseFormat = "wav"
    stream: bool = False


class DevPhonemizeRequest(BaseModel):
    """Kokoro-FastAPI's ``/dev/phonemize`` body (its ``language`` codes are Kokoro's: ``a``, ``b``...)."""

    text: SpeechText
    language: str = Field("a", max_length=32)


class DevPhonemes(BaseModel):
    phonemes: str
    tokens: list[int] = Field(default_factory=list, description="Kokoro's token ids (empty here)")


class DevPhonemeSpeechRequest(SpeedField):
    """Kokoro-FastAPI's ``/dev/generate_from_phonemes`` body."""

    phonemes: SpeechText
    voice: str | None = Field(None, max_length=256)


class Pronunciation(BaseModel):
    """One lexicon entry: a word or phrase with its IPA and/or a respelling (docs/ssml.md)."""

    word: str = Field(min_length=1, max_length=100)
    ipa: str | None = Field(None, max_length=200)
    respelling: str | None = Field(None, max_length=200)


class RoleLexicon(BaseModel):
    role: str
    entries: list[Pronunciation]


class RoleLexiconUpdate(BaseModel):
    entries: list[Pronunciation] = Field(max_length=1000)
