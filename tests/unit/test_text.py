from flashtts.text import parse_dialogue, split_sentences, split_text

import pytest


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
