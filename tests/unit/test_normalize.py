"""Text normalisation for speech, on the committed list of cases (tests/data/normalize_cases.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flashtts.engine import EngineInfo, VoiceInfo
from flashtts.text import numbers
from flashtts.text.languages import speech_language
from flashtts.text.normalize import normalize

CASES = json.loads((Path(__file__).resolve().parent.parent / "data" / "normalize_cases.json").read_text("utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["what"] for c in CASES])
def test_case(case):
    assert normalize(case["input"], case["language"]) == case["expected"]


def test_cases_cover_every_kind():
    spoken = " ".join(c["expected"] for c in CASES if c["language"] == "en")
    for leftover in ("**", "`", "](", "http", "👋", "$", "%", "°", "#"):
        assert leftover not in spoken, leftover


@pytest.mark.parametrize(("n", "words"), [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (40, "forty"), (99, "ninety-nine"), (100, "one hundred"),
    (101, "one hundred one"), (1000, "one thousand"), (1_000_001, "one million one"),
    (987_654_321, "nine hundred eighty-seven million six hundred fifty-four thousand three hundred twenty-one"),
    (-12, "minus twelve"),
])
def test_cardinal(n, words):
    assert numbers.cardinal(n) == words


@pytest.mark.parametrize(("n", "words"), [
    (1, "first"), (2, "second"), (3, "third"), (5, "fifth"), (8, "eighth"), (9, "ninth"), (12, "twelfth"),
    (20, "twentieth"), (21, "twenty-first"), (100, "one hundredth"), (103, "one hundred third"),
])
def test_ordinal(n, words):
    assert numbers.ordinal(n) == words


@pytest.mark.parametrize(("n", "words"), [
    (1999, "nineteen ninety-nine"), (2000, "two thousand"), (2005, "two thousand five"),
    (2024, "twenty twenty-four"), (1900, "nineteen hundred"), (1805, "eighteen oh five"),
])
def test_year(n, words):
    assert numbers.year(n) == words


@pytest.mark.timeout(20)
@pytest.mark.parametrize("hostile", [
    "[" * 100_000, "![" * 50_000, "*" * 100_000, "_a" * 50_000, "`" * 100_000, "1," * 50_000, "1." * 50_000,
    "<a " * 30_000, "http://" + "a" * 100_000, "a@" * 50_000, "a." * 50_000 + "@b", "|" * 100_000,
    "- " * 50_000, "# " * 50_000, "9" * 100_000, "$" + "1," * 50_000, "12:" * 30_000, "-" * 100_000,
])
def test_hostile_input_finishes(hostile):
    """Inputs that make backtracking patterns blow up; the hang guard is pytest-timeout, not a timing assert."""
    out = normalize(hostile, "en")
    assert isinstance(out, str)


def test_language_for_reading():
    piper = EngineInfo(name="p", model="m", sample_rate=22050, voices=(VoiceInfo(id="joe", name="Joe", language="en"),),
                       default_voice="joe", languages=("auto", "en", "en-us", "english"))
    assert speech_language(piper, "joe", None, "It costs $5.") == "en"
    multi = EngineInfo(name="q", model="m", sample_rate=24000, voices=(VoiceInfo(id="vivian", name="Vivian"),),
                       default_voice="vivian", languages=("auto", "chinese", "english"))
    assert speech_language(multi, "vivian", "English", "It costs $5.") == "en"
    assert speech_language(multi, "vivian", None, "你好") == "zh"
    assert speech_language(multi, "vivian", None, "It costs $5.") is None  # English or another Latin language
