"""The script detector: letters per writing system, and which text a voice cannot read."""

from __future__ import annotations

import pytest

from flashtts.engine import EngineInfo, VoiceInfo
from flashtts.errors import APIError
from flashtts.serving.planning import check_script
from flashtts.text.scripts import dominant_script, guess_language, readable_scripts, script_counts, unreadable_script

LATIN = frozenset({"latin"})


@pytest.mark.parametrize(("text", "script", "language"), [
    ("Hello, world.", "latin", None),
    ("Ça va? Déjà vu, naïve façade.", "latin", None),
    ("你好，世界。", "han", "zh"),
    ("こんにちは、世界。", "kana", "ja"),
    ("東京大学医学部附属病院へ", "han", "ja"),  # kana anywhere: Japanese, even when kanji dominate
    ("안녕하세요", "hangul", "ko"),
    ("Привет, мир!", "cyrillic", "ru"),
    ("Καλημέρα", "greek", "el"),
    ("مرحبا بالعالم", "arabic", "ar"),
    ("שלום עולם", "hebrew", "he"),
    ("नमस्ते दुनिया", "devanagari", "hi"),
    ("สวัสดีชาวโลก", "thai", "th"),
    ("12345 !?", None, None),
    ("👋🎉", None, None),
])
def test_script_and_language(text, script, language):
    assert dominant_script(text) == script
    assert guess_language(text) == language


def test_counts_letters_only():
    assert script_counts("a1 b2, 你") == {"latin": 2, "han": 1}


def test_mismatch_names_the_language():
    found = unreadable_script("你好，世界。", LATIN)
    assert found is not None and (found.language, found.language_name, found.share) == ("zh", "Chinese", 1.0)
    found = unreadable_script("東京タワーへ行きます", LATIN)
    assert found is not None and found.language_name == "Japanese"
    assert unreadable_script("Hello 你好 there my friend", LATIN) is None  # a few foreign letters: spoken
    assert unreadable_script("你好", frozenset({"han"})) is None
    assert unreadable_script("!!!", LATIN) is None


def test_readable_scripts_from_languages():
    assert readable_scripts(["en"]) == LATIN
    assert readable_scripts(["en", "zh", "ja"]) == frozenset({"latin", "han", "kana"})
    assert readable_scripts(["en", "xx"]) is None  # unknown language: refuse nothing


def test_linear_time_on_long_input():
    text = "你" * 200_000 + "a" * 200_000
    assert script_counts(text) == {"han": 200_000, "latin": 200_000}


def _info(voices, languages=("auto",)) -> EngineInfo:
    return EngineInfo(name="e", model="m", sample_rate=24000, default_voice=voices[0][0] if voices else None,
                      voices=tuple(VoiceInfo(id=v, name=v, language=lang) for v, lang in voices), languages=languages)


def test_check_script_uses_the_voice_language_then_the_engine_languages():
    piper = _info([("joe", "en")], ("auto", "en", "en-us", "english"))
    with pytest.raises(APIError) as exc:
        check_script(piper, "joe", "你好，世界。", "input")
    assert exc.value.param == "input" and "Chinese" in exc.value.message
    check_script(piper, "joe", "Hello there.", "input")
    multi = _info([("vivian", None), ("ryan", None)], ("auto", "chinese", "english", "japanese"))
    check_script(multi, "vivian", "你好，世界。", "input")
    with pytest.raises(APIError):
        check_script(multi, "vivian", "안녕하세요", "input")
    check_script(_info([], ("auto",)), None, "안녕하세요", "input")  # the engine says nothing: refuse nothing
