"""The incremental sentence cutter: segments complete as soon as their end arrives, in any piece size."""

from __future__ import annotations

import pytest

from flashtts.live_text import SentenceCutter

TEXT = ("Hello there! Dr. Smith paid $3.50 for it, e.g. a coffee. Was it good? \"Yes.\" Then we left...\n"
        "1. First item\n2. Second item\n你好。我们走吧！ok")
EXPECTED = ["Hello there!", "Dr. Smith paid $3.50 for it, e.g. a coffee.", "Was it good?", "\"Yes.\"",
            "Then we left...", "1. First item", "2. Second item", "你好。", "我们走吧！", "ok"]


def run(pieces: list[str], cutter: SentenceCutter | None = None) -> list[str]:
    cutter = cutter or SentenceCutter()
    out = []
    for p in pieces:
        out += cutter.feed(p)
    return out + cutter.flush()


@pytest.mark.parametrize("size", [1, 2, 5, 13, 1000])
def test_same_segments_whatever_the_piece_size(size):
    assert run([TEXT[i:i + size] for i in range(0, len(TEXT), size)]) == EXPECTED


def test_a_sentence_is_released_when_the_space_after_it_arrives():
    cutter = SentenceCutter()
    assert cutter.feed("It is done.") == []  # could still be "done.com"
    assert cutter.feed(" And") == ["It is done."]
    assert cutter.pending == " And"
    assert cutter.flush() == ["And"]
    assert cutter.flush() == []


def test_long_clauses_are_cut_at_a_comma_then_at_a_space():
    clause = "word " * 30  # 150 characters, no punctuation
    cutter = SentenceCutter(clause_chars=40, max_chars=100)
    text = clause[:59] + ", and " + clause
    got = run([text], cutter)
    assert got[0] == clause[:59] + ","
    assert all(len(s) <= 100 for s in got)
    assert " ".join(got).split() == text.split()
    # no space at all: a hard cut at max_chars
    assert [len(s) for s in run(["x" * 250], SentenceCutter(clause_chars=40, max_chars=100))] == [100, 100, 50]


class CountingCutter(SentenceCutter):
    steps = 0

    def _step(self, ch: str):
        self.steps += 1
        return super()._step(ch)


def test_each_character_is_looked_at_once_on_hostile_input():
    """Many dots without spaces, a giant word, a run of dots: one step per character, whatever the pieces."""
    text = ("a." * 5000) + ("b" * 5000) + ("." * 5000) + " end"
    for size in (1, 7, len(text)):
        cutter = CountingCutter(clause_chars=50, max_chars=200)
        got = run([text[i:i + size] for i in range(0, len(text), size)], cutter)
        assert cutter.steps == len(text)
        assert "".join(got) == text.replace(" ", "")
