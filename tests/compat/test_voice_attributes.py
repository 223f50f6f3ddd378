"""``voice_attributes`` (gender, age, emotion) -> a voice and an instruction, on engines with and
without instructions; the preset names other systems use -> the closest voice here."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from flashtts.engine import Capabilities, EngineInfo, VoiceInfo
from flashtts.http.apis.compat.serving import Traits, attribute_instructions, closest_voice, voice_for_attributes
from flashtts.text.languages import codes_of, engine_language, spelled_as

QWEN_SPEAKERS = ("aiden", "dylan", "eric", "ono_anna", "ryan", "serena", "sohee", "uncle_fu", "vivian")


def info(voices, caps: Capabilities, languages=("auto",), default=None) -> EngineInfo:
    return EngineInfo(name="x", model="x", sample_rate=24000, voices=tuple(VoiceInfo(id=v, name=v) for v in voices),
                      default_voice=default or (voices[0] if voices else None), languages=languages,
                      capabilities=caps)


@dataclass
class Service:
    """Just what voice_for_attributes reads of a SpeechService: the engine's info."""

    engine: object = field(default=None)


class Engine:
    def __init__(self, info: EngineInfo) -> None:
        self.info = info


CUSTOM = info(QWEN_SPEAKERS, Capabilities(instruct=True), default="vivian")
PIPER = info(("joe",), Capabilities(speed=True))
DESIGN = info((), Capabilities(voice_design=True))


@pytest.mark.parametrize("gender, age, text, voices", [
    ("female", 25, "Hello there", {"vivian", "serena", "ono_anna", "sohee"}),
    ("male", 70, "你好", {"uncle_fu"}),
    ("male", 25, "Hello there", {"aiden"}),
    ("female", 30, "こんにちは", {"ono_anna"}),
    ("female", 30, "안녕하세요", {"sohee"}),
    ("neutral", None, "Hi", {"vivian"}),
])
def test_attributes_choose_the_closest_preset(gender, age, text, voices):
    choice = voice_for_attributes(Service(Engine(CUSTOM)), gender, age, "happy", text)
    assert choice.voice in voices
    assert choice.instructions and "happy" in choice.instructions


def test_instructions_describe_the_speaker():
    assert attribute_instructions("female", 25, "happy") == "Speak as a 25-year-old woman in a happy, cheerful tone."
    assert attribute_instructions("male", None, "sad") == "Speak as a man in a sad, subdued tone."
    assert attribute_instructions(None, None, "whispering") == "Speak in a whispering tone."
    assert attribute_instructions(None, None, None) is None


def test_engine_without_instructions_gets_a_voice_and_no_instructions():
    choice = voice_for_attributes(Service(Engine(PIPER)), "female", 25, "happy", "Hi")
    assert choice.voice == "joe" and choice.instructions is None


def test_voice_design_engine_gets_the_description_and_no_voice():
    choice = voice_for_attributes(Service(Engine(DESIGN)), "male", 40, "angry", "Hi")
    assert choice.voice is None
    assert choice.instructions == "Speak as a 40-year-old man in an angry, intense tone."


def test_cosyvoice_speakers_map_by_gender_and_language():
    assert closest_voice(CUSTOM, Traits("female", None, "zh")) in {"vivian", "serena"}
    assert closest_voice(CUSTOM, Traits("male", None, "ja")) in {"ryan", "aiden", "dylan", "eric", "uncle_fu"}
    assert closest_voice(CUSTOM, Traits("male", None, "en")) in {"ryan", "aiden"}
    assert closest_voice(PIPER, Traits("female", None, "zh")) == "joe"


@pytest.mark.parametrize("languages, given, expected", [
    (("auto", "chinese", "english"), "zh", "chinese"),
    (("auto", "chinese", "english"), "Chinese", "chinese"),
    (("auto", "chinese", "english"), "Auto", "auto"),
    (("auto", "en", "en-us", "english"), "English", "english"),
    (("auto", "en", "en-us", "english"), "en", "en"),
    (("auto", "en", "en-us", "english"), "zh", "zh"),
    (("auto",), None, "auto"),
])
def test_language_names_map_to_the_engines_spelling(languages, given, expected):
    assert engine_language(info(("a",), Capabilities(), languages=languages), given) == expected


def test_one_alias_table_for_the_server_and_the_engines():
    """The Qwen3 engine lists its languages by name; the codes answer to them (flashtts/text/languages.py)."""
    qwen = ["auto", "chinese", "english", "german", "italian", "portuguese", "spanish", "japanese", "korean",
            "french", "russian"]
    assert codes_of(qwen) == ["zh", "en", "ja", "ko", "de", "fr", "ru", "pt", "es", "it"]
    assert spelled_as("ZH-cn", qwen) == "chinese" and spelled_as("English", qwen) == "english"
    assert spelled_as("klingon", qwen) is None and spelled_as("en", ["en", "english"]) == "en"
