"""Text to Kokoro tokens: espeak-ng phonemes (the copy piper-tts bundles) in the voice's language.

A Kokoro voice's name says its language by its first letter (``af_heart``: American English,
``bm_george``: British English, ``ef_dora``: Spanish ...). espeak-ng phonemises the languages
:data:`ESPEAK_VOICE` maps; its IPA is what kokoro-onnx feeds the model too, and measured here on the
Harvard sentences it is heard as well as with misaki-style diphthong symbols (docs/kokoro.md).
Japanese and Mandarin are read by misaki instead (:mod:`.cjk`, the ``kokoro-cjk`` extra): espeak-ng
writes their tones and diacritics with symbols outside Kokoro's vocabulary.

Each sentence becomes at most :data:`MAX_TOKENS` tokens; a longer one is cut at its last word break
before the limit.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flashtts.text.languages import language_code

MAX_TOKENS = 508
"""Phoneme tokens per model call (510 style rows less the two pad tokens)."""

PREFIX_LANGUAGE: dict[str, tuple[str, str]] = {
    "a": ("en-us", "American English"),
    "b": ("en-gb", "British English"),
    "e": ("es", "Spanish"),
    "f": ("fr", "French"),
    "h": ("hi", "Hindi"),
    "i": ("it", "Italian"),
    "p": ("pt-br", "Brazilian Portuguese"),
    "j": ("ja", "Japanese"),
    "z": ("zh", "Mandarin Chinese"),
}
"""Kokoro's voice-name prefix -> (language as the voice lists it, its name)."""

ESPEAK_VOICE: dict[str, str] = {"en-us": "en-us", "en-gb": "en", "es": "es", "fr": "fr", "hi": "hi", "it": "it",
                                "pt-br": "pt-br"}
"""Languages espeak-ng phonemises for Kokoro -> the espeak-ng voice (its ``en`` is British English)."""

LANGUAGES = ("auto", "en", "en-us", "en-gb", "english", "es", "spanish", "fr", "french", "hi", "hindi", "it",
             "italian", "pt", "pt-br", "portuguese")
"""What a request's ``language`` may say."""


def voice_language(voice: str) -> tuple[str | None, str]:
    """(language, its name) of a Kokoro voice from its prefix; (None, "") for a name without one."""
    return PREFIX_LANGUAGE.get(voice[:1].lower(), (None, "")) if len(voice) > 2 and voice[2:3] == "_" else (None, "")


def espeak_voice(voice: str, language: str | None) -> str | None:
    """The espeak-ng voice that reads text for ``voice`` in ``language`` (the request's; ``auto``/None: the
    voice's own); None when espeak-ng cannot phonemise it for Kokoro."""
    own, _ = voice_language(voice)
    asked = (language or "auto").strip().lower()
    if asked in ("", "auto"):
        return ESPEAK_VOICE.get(own or "en-us")
    if asked in ESPEAK_VOICE:
        return ESPEAK_VOICE[asked]
    code = language_code(asked) or asked
    if code == "en":
        return ESPEAK_VOICE["en-gb" if own == "en-gb" else "en-us"]
    if code == "pt":
        return ESPEAK_VOICE["pt-br"]
    return ESPEAK_VOICE.get(code)


@dataclass(frozen=True)
class Piece:
    """One model call's worth of a sentence: its phonemes (one symbol each) and their token ids."""

    phonemes: tuple[str, ...]
    ids: tuple[int, ...]


def symbols(phonemes: Sequence[str], vocab: Mapping[str, int]) -> list[str]:
    """espeak's phonemes as Kokoro's symbols: a composed letter where the vocabulary has it (``ç``),
    else the letter and its accent apart (``õ`` -> ``o`` + a combining tilde); piper-tts hands them
    decomposed."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", "".join(phonemes)):
        out.extend([ch] if ch in vocab else unicodedata.normalize("NFD", ch))
    return out


def pieces(phonemes: Sequence[str], vocab: Mapping[str, int]) -> list[Piece]:
    """A sentence's phonemes cut into model calls of at most :data:`MAX_TOKENS` tokens (symbols the
    vocabulary lacks are dropped; a cut falls on the last space before the limit)."""
    out: list[Piece] = []
    current: list[str] = []
    ids: list[int] = []
    last_space = -1
    for ph in phonemes:
        if ph not in vocab:
            continue
        current.append(ph)
        ids.append(vocab[ph])
        if ph == " ":
            last_space = len(current) - 1
        if len(ids) >= MAX_TOKENS:
            cut = last_space + 1 if last_space > 0 else len(current)
            out.append(Piece(tuple(current[:cut]), tuple(ids[:cut])))
            current, ids = current[cut:], ids[cut:]
            last_space = max((i for i, p in enumerate(current) if p == " "), default=-1)
    if ids:
        out.append(Piece(tuple(current), tuple(ids)))
    return out


def opening_pieces(piece: Piece, most: int) -> list[Piece]:
    """A sentence's first model call cut short for a listener waiting for the first audio: its first
    clause, or its first words, up to ``most`` tokens (cut after a comma or at a word break), then
    the rest; unchanged when it is not much longer than that."""
    if len(piece.ids) <= most * 3 // 2:
        return [piece]
    breaks = [i + 1 for i, ph in enumerate(piece.phonemes[:most]) if ph == " " and i > 0]
    if not breaks:
        return [piece]
    clause = [i for i in breaks if piece.phonemes[i - 2] in ",;:"]
    cut = clause[-1] if clause and clause[-1] >= most // 2 else breaks[-1]
    return [Piece(piece.phonemes[:cut], piece.ids[:cut]), Piece(piece.phonemes[cut:], piece.ids[cut:])]
