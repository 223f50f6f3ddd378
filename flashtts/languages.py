"""Language names and codes, and the check that a voice can read the script a text is written in."""

from __future__ import annotations

from flashtts.engine import EngineInfo
from flashtts.errors import APIError
from flashtts.scripts import guess_language, readable_scripts, unreadable_script

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


def check_script(info: EngineInfo, voice: str | None, text: str, param: str = "input") -> None:
    """400 naming the language when ``text`` is mostly in a script the voice cannot read (no language given)."""
    codes = voice_language_codes(info, voice)
    readable = readable_scripts([c for c in codes if c]) if codes and all(codes) else None
    if readable is None:
        return
    mismatch = unreadable_script(text, readable)
    if mismatch is None:
        return
    who = f"voice '{voice}'" if voice else f"engine '{info.name}'"
    raise APIError(f"{param} looks like {mismatch.language_name} ({mismatch.script} script), which {who} cannot "
                   f"speak; it speaks: {', '.join(sorted({c for c in codes if c}))}", param=param,
                   code="unsupported_language")
