"""Word-timestamp bookkeeping of a document (flashtts.ssml.timing): which words, and when."""

from __future__ import annotations

import pytest

from flashtts.engine import WordTiming
from flashtts.ssml import Timeline, WordSlot, document_words, parse_lexicon, parse_ssml, read, relabel, word_slots


def engine_timings(segment, step=0.5):
    """What an engine with timestamps reports for a segment's text: its words, one every ``step`` s."""
    words = [w for slot in word_slots(segment) for w in slot.spoken]
    return [WordTiming(w, i * step, i * step + step * 0.8) for i, w in enumerate(words)]


def test_sub_and_characters_report_the_spoken_words():
    doc = parse_ssml('<speak>The <sub alias="World Wide Web">WWW</sub> and <say-as interpret-as="characters">NASA'
                     '</say-as>.</speak>')
    words = [w.word for w in relabel(word_slots(doc.segments[0]), engine_timings(doc.segments[0]))]
    assert words == ["The", "World", "Wide", "Web", "and", "N", "A", "S", "A"]


def test_respelling_reports_the_written_word_over_the_respelling_time():
    lex = parse_lexicon("Nguyen = /ŋwiən/ win\nkubectl = cube control\n")
    doc = read("Ask Nguyen's team about kubectl now.", lexicon=lex)
    segment = doc.segments[0]
    assert word_slots(segment)[1] == WordSlot(("win's",), ("Nguyen's",))
    words = relabel(word_slots(segment), engine_timings(segment))
    assert [(w.word, w.start, w.end) for w in words] == [
        ("Ask", 0.0, 0.4), ("Nguyen's", 0.5, 0.9), ("team", 1.0, 1.4), ("about", 1.5, 1.9),
        ("kubectl", 2.0, 2.9),  # "cube control": from the start of "cube" to the end of "control"
        ("now", 3.0, 3.4)]


def test_two_written_words_over_one_respelled_word_share_its_time():
    doc = read("Say New York.", lexicon=parse_lexicon("New York = gotham\n"))
    words = relabel(word_slots(doc.segments[0]), [WordTiming("Say", 0.0, 0.4), WordTiming("gotham", 0.5, 1.3)])
    assert [(w.word, round(w.start, 3), round(w.end, 3)) for w in words] == [
        ("Say", 0.0, 0.4), ("New", 0.5, 0.843), ("York", 0.843, 1.3)]  # 0.8 s shared by letters, 3:4


def test_engine_that_drops_a_word_still_lines_up_by_text():
    doc = read("Call SQL support today", lexicon=parse_lexicon("SQL = sequel\n"))
    timings = [WordTiming("Call", 0.0, 0.3), WordTiming("sequel", 0.4, 0.8), WordTiming("today", 1.4, 1.8)]
    words = relabel(word_slots(doc.segments[0]), timings)
    assert [(w.word, w.start) for w in words] == [("Call", 0.0), ("SQL", 0.4), ("today", 1.4)]


def test_timings_that_match_nothing_pass_through():
    doc = read("one two")
    timings = [WordTiming("one", 0.0, 0.2), WordTiming("uh", 0.3, 0.4), WordTiming("two", 0.5, 0.7)]
    assert relabel(word_slots(doc.segments[0]), timings) == timings


def test_breaks_shift_the_following_words():
    doc = parse_ssml('<speak>One two. <break time="700ms"/>Three <break time="300ms"/><break time="200ms"/>four'
                     '</speak>')
    per_segment = [(engine_timings(s), 1.0 + i) for i, s in enumerate(doc.segments)]
    words = document_words(doc, per_segment)
    assert [(w.word, round(w.start, 3)) for w in words] == [
        ("One", 0.0), ("two", 0.5),  # segment 1 lasts 1.0 s
        ("Three", 1.7),  # after it and the 0.7 s break
        ("four", 1.7 + 2.0 + 0.5)]  # segment 2 lasts 2.0 s, then 0.5 s of breaks


def test_scaled_segment_words_scale():
    doc = parse_ssml('<speak><prosody rate="50%">slow words</prosody></speak>')
    words = document_words(doc, [(engine_timings(doc.segments[0]), 2.0)], scales=[1 / doc.segments[0].prosody.rate])
    assert [(w.word, w.start, w.end) for w in words] == [("slow", 0.0, 0.8), ("words", 1.0, 1.8)]


def test_segment_count_must_match():
    doc = parse_ssml('<speak>a <break time="1s"/> b</speak>')
    with pytest.raises(ValueError, match="1 segment timings for 2 segments"):
        document_words(doc, [([], 1.0)])


def test_timeline_by_hand():
    timeline = Timeline()
    timeline.pause(0.25)
    placed = timeline.place([WordTiming("hi", 0.1, 0.3)], duration=0.5)
    assert placed == [WordTiming("hi", 0.35, 0.55)] and timeline.now == 0.75
