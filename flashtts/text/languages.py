"""Language names and codes: the one alias table (the server's and the engines'), and the language a text
is read in. Nothing here imports the web framework, so engines may use it."""

from __future__ import annotations

from collections.abc import Iterable

from flashtts.engine import EngineInfo
from flashtts.text.scripts import guess_language

LANGUAGE_ALIASES: tuple[tuple[str, ...], ...] = (
    ("zh", "chinese", "zh-cn", "zh_cn", "cn", "mandarin", "中文"),
    ("en", "english", "en-us", "en_us", "en-gb"),
    ("ja", "japanese", "jp", "日本語"),
    ("ko", "korean", "kr", "한국어"),
    ("de", "german"),
    ("fr", "french"),
    ("ru", "russian"),
    ("pt", "portuguese"),
    ("es", "spanish"),
    ("it", "italian"),
)


def language_code(value: str) -> str | None:
    """ISO 639-1 code of a language name or code (``Chinese``, ``zh-CN`` -> ``zh``); None when unknown."""
    v = value.strip().lower()
    for group in LANGUAGE_ALIASES:
        if v in group:
            return group[0]
    return None


def spelled_as(value: str, names: Iterable[str]) -> str | None:
    """``value`` as ``names`` spell it (``zh`` -> ``chinese`` when ``names`` list ``chinese``); None when
    neither it nor an alias of it is among ``names``."""
    have = {name.lower(): name for name in names}
    v = value.strip().lower()
    if v in have:
        return have[v]
    for group in LANGUAGE_ALIASES:
        if v in group:
            for alias in group:
                if alias in have:
                    return have[alias]
    return None


def codes_of(names: Iterable[str]) -> list[str]:
    """The ISO 639-1 codes of the languages ``names`` lists by another name (``chinese`` -> ``zh``)."""
    listed = {name.lower() for name in names}
    return [group[0] for group in LANGUAGE_ALIASES if group[0] not in listed and listed.intersection(group[1:])]


def engine_language(info: EngineInfo, value: str | None) -> str:
    """``value`` spelt as the engine lists it (``zh`` -> ``chinese`` and so on); unknown stays as
    given, so the engine's check answers a 400 naming the languages it has."""
    if not value:
        return "auto"
    return spelled_as(value, info.languages) or value


def voice_language_codes(info: EngineInfo, voice: str | None) -> list[str | None]:
    """Languages a voice speaks: the voice's own when the engine says, else every language the engine lists."""
    listed = next((v.language for v in info.voices if v.id == voice), None) if voice else None
    names = [listed] if listed else [lang for lang in info.languages if lang.lower() != "auto"]
    return [language_code(name) or name.lower() for name in names]


def speech_language(info: EngineInfo, voice: str | None, language: str | None, text: str) -> str | None:
    """The ISO 639-1 code text is read in: the request's (or role's) language, else the voice's only
    language, else the script's (kana, hangul, Cyrillic...); None when it cannot be told."""
    if language and language.lower() != "auto":
        return language_code(language)
    codes = {c for c in voice_language_codes(info, voice) if c}
    if len(codes) == 1:
        return codes.pop()
    return guess_language(text)
