"""The one sentence cutter (flashtts/text/sentences.py): whole texts for HTTP, pieces for the live paths,
dialogue tags."""

from __future__ import annotations

import pytest

from flashtts.text.sentences import SentenceCutter, parse_dialogue, split_sentences, split_text


def test_short_text_is_one_segment():
    assert split_text("Hello there. How are you?", length_threshold=50) == ["Hello there. How are you?"]


def test_english_sentences_are_cut_and_packed():
    text = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. It's easy."
    segs = split_text(text, length_threshold=20, window_size=50)
    assert segs == ["The birch canoe slid on the smooth planks.",
                    "Glue the sheet to the dark blue background.", "It's easy."]
    assert " ".join(segs) == text


def test_chinese_punctuation_splits():
    text = "今天天气很好。我们去公园散步吧！你觉得怎么样？好的。"
    assert split_sentences(text) == ["今天天气很好。", "我们去公园散步吧！", "你觉得怎么样？", "好的。"]
    segs = split_text(text, length_threshold=5, window_size=12)
    assert "".join(segs) == text
    assert all(len(s) <= 12 for s in segs)


def test_overlong_sentence_is_cut_at_commas_then_spaces():
    text = "one two three four five, six seven eight nine ten eleven twelve thirteen fourteen fifteen"
    segs = split_text(text, length_threshold=10, window_size=30)
    assert all(len(s) <= 30 for s in segs)
    assert " ".join(segs).split() == text.split()


def test_decimal_point_is_not_a_sentence_end():
    assert split_sentences("Pi is 3.14 roughly. Yes.") == ["Pi is 3.14 roughly.", "Yes."]


def test_dialogue_tags():
    turns = parse_dialogue("<role:alice> Hi Bob! <role:bob> Hello, Alice.")
    assert [(t.role, t.text) for t in turns] == [("alice", "Hi Bob!"), ("bob", "Hello, Alice.")]


@pytest.mark.parametrize("bad", ["no tags here", "lead <role:a> x", "<role:> x", "<role:a>   "])
def test_bad_dialogue(bad):
    with pytest.raises(ValueError):
        parse_dialogue(bad)


def test_abbreviations_initials_and_semicolons_end_no_sentence():
    text = "Dr. Smith met J. R. R. Tolkien; e.g. at St. Mary's. 1. First. Then 3.14 it was! 好的。走吧"
    assert split_sentences(text) == ["Dr. Smith met J. R. R. Tolkien; e.g. at St. Mary's.", "1. First.",
                                     "Then 3.14 it was!", "好的。", "走吧"]


def test_split_text_cuts_long_sentences_with_the_cutters_clause_rules():
    """A sentence over the window is cut at ';' and dashes too, the clause marks of the live paths."""
    text = "alpha beta gamma delta epsilon; zeta eta theta iota kappa — lambda mu nu xi omicron pi rho"
    segs = split_text(text, length_threshold=10, window_size=40)
    assert segs[0] == "alpha beta gamma delta epsilon;"
    assert all(len(s) <= 40 for s in segs) and " ".join(segs).split() == text.split()


# ---- text in pieces (the WebSocket and Wyoming) --------------------------------------------------
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
