"""The pronunciation lexicon (flashtts.ssml.lexicon): file format, matching rules, merging, reloading."""

from __future__ import annotations

import os

import pytest

from flashtts.ssml import (
    Entry,
    Lexicon,
    LexiconError,
    LexiconFile,
    entries_from_json,
    parse_lexicon,
    parse_ssml,
    read,
)

FILE = """\
# names
Nguyen = /ŋwiən/ win
SQL = sequel
kubectl = /ˈkjuːb kənˌtɹoʊl/
new york = /nuː ˈjɔːɹk/
New York City = the big apple
.NET = dot net
US = /ˌjuːˈɛs/ U S
"""


@pytest.fixture
def lexicon() -> Lexicon:
    return parse_lexicon(FILE, "test.lex")


def said(doc):
    return [(s.kind, s.text, s.ipa, s.written) for s in doc.segments[0].spans]


def test_file_format(lexicon):
    assert len(lexicon) == 7
    by_key = {e.key: e for e in lexicon.entries}
    assert (by_key["Nguyen"].ipa, by_key["Nguyen"].respelling) == ("ŋwiən", "win")
    assert (by_key["SQL"].ipa, by_key["SQL"].respelling) == (None, "sequel")
    assert (by_key["kubectl"].ipa, by_key["kubectl"].respelling) == ("ˈkjuːb kənˌtɹoʊl", None)


def test_applied_spans_for_phoneme_and_text_engines(lexicon):
    doc = read("Ask Nguyen about SQL and kubectl.", lexicon=lexicon)
    assert said(doc) == [
        ("text", "Ask ", None, None), ("lexicon", "win", "ŋwiən", "Nguyen"), ("text", " about ", None, None),
        ("lexicon", "sequel", None, "SQL"), ("text", " and ", None, None),
        ("lexicon", "kubectl", "ˈkjuːb kənˌtɹoʊl", None), ("text", ".", None, None)]
    assert doc.text == "Ask win about sequel and kubectl."  # what a text engine says
    assert not doc.strict_spans  # lexicon IPA falls back to the word on text engines


@pytest.mark.parametrize(("text", "matched"), [
    ("NEW YORK and new york", ["NEW YORK", "new york"]),  # lower-case key: any case
    ("NGUYEN nguyen Nguyen", ["Nguyen"]),  # key with capitals: exactly as written
    ("KUBECTL", ["KUBECTL"]),
    ("sql Sql SQL", ["SQL"]),  # key with capitals: exactly as written
    ("us and US", ["US"]),
    ("MySQL SQLite SQL_x xSQL", []),  # whole words only
    ("SQL's (SQL) SQL-based SQL.", ["SQL", "SQL", "SQL", "SQL"]),
    ("in New\n  York today", ["New\n  York"]),  # any whitespace inside a phrase
    ("New York City", ["New York City"]),  # longest wins
    ("new york city", ["new york"]),  # the longer key has capitals: only the shorter matches
    ("on .NET and ASP.NET", [".NET"]),
])
def test_matching_rules(lexicon, text, matched):
    assert [text[s:e] for s, e, _ in lexicon.find(text)] == matched


def test_capitals_win_over_lower_case_for_the_same_text():
    lex = Lexicon([Entry.make("us", respelling="uss"), Entry.make("US", respelling="you ess")])
    assert [e.respelling for _, _, e in lex.find("US us")] == ["you ess", "uss"]


def test_replaced_text_is_not_read_again():
    lex = Lexicon([Entry.make("a", respelling="b"), Entry.make("b", respelling="c")])
    assert read("a b", lexicon=lex).text == "b c"


def test_lexicon_not_applied_inside_sub_say_as_phoneme(lexicon):
    doc = parse_ssml('<speak>SQL <sub alias="SQL">S</sub> <phoneme ph="sql">SQL</phoneme> '
                     '<say-as interpret-as="characters">SQL</say-as></speak>')
    doc = lexicon.apply(doc)
    assert [s.kind for s in doc.segments[0].spans] == ["lexicon", "text", "sub", "text", "phoneme", "text", "say-as"]


def test_inline_pronunciation_is_not_overridden_by_the_lexicon(lexicon):
    doc = read("[SQL](/ɛs kjuː ɛl/) or SQL", lexicon=lexicon)
    assert [(s.kind, s.ipa) for s in doc.segments[0].spans] == [("inline", "ɛs kjuː ɛl"), ("text", None),
                                                                 ("lexicon", None)]


def test_merge_order_request_over_role_over_file(lexicon):
    role = [Entry.make("SQL", respelling="squeal")]
    request = entries_from_json([{"word": "Nguyen", "ipa": "/nuːjɛn/"}])
    merged = lexicon.merged(role, request)
    by_key = {e.key: e for e in merged.entries}
    assert by_key["SQL"].respelling == "squeal"
    assert (by_key["Nguyen"].ipa, by_key["Nguyen"].respelling) == ("nuːjɛn", None)
    assert len(merged) == len(lexicon)
    assert {e.key: e for e in lexicon.entries}["SQL"].respelling == "sequel"  # the file's lexicon unchanged


def test_lower_case_keys_differing_in_case_are_one_entry():
    lex = Lexicon([Entry.make("nguyen", respelling="one"), Entry.make("nguyen", respelling="two")])
    assert [e.respelling for e in lex.entries] == ["two"]


def test_json_forms():
    listed = entries_from_json([{"word": "Kokoro", "ipa": "kˈOkəɹO"}, {"word": "SQL", "respelling": "sequel"}])
    mapped = entries_from_json({"Kokoro": "/kˈOkəɹO/", "SQL": "sequel"})
    assert listed == mapped
    assert [e.as_json() for e in listed] == [{"word": "Kokoro", "ipa": "kˈOkəɹO"},
                                             {"word": "SQL", "respelling": "sequel"}]


@pytest.mark.parametrize(("value", "words"), [
    ([{"word": "x"}], "entry 0: 'x' has neither"),
    ([{"word": "x", "ipa": "a1"}], "not IPA"),
    ([{"word": "x", "respelling": "y", "extra": 1}], "unknown field"),
    ([{"word": 3, "respelling": "y"}], "strings"),
    (["x = y"], "an object"),
    ({"x": 5}, "not a string"),
    ({"---": "y"}, "no letter or digit"),
    ([{"word": "x" * 101, "respelling": "y"}], "limit is 100"),
])
def test_json_errors(value, words):
    with pytest.raises(ValueError, match=words):
        entries_from_json(value)


@pytest.mark.parametrize(("text", "line", "words"), [
    ("# ok\nSQL = sequel\nno equals sign\n", 3, "expected WORD = /IPA/ respelling"),
    ("SQL = sequel\n\nSQL = squeal\n", 3, "already on line 1"),
    ("a = /ə\n", 1, "no closing slash"),
    ("a = /ə1/\n", 1, "not IPA"),
    ("a =\n", 1, "neither"),
    (" = x\n", 1, "expected"),
    ("a = b\x00c\n", 1, "control character"),
    ("--- = x\n", 1, "no letter or digit"),
])
def test_file_errors_name_the_line(text, line, words):
    with pytest.raises(LexiconError) as info:
        parse_lexicon(text, "my.lex")
    assert info.value.line == line and words in str(info.value)
    assert str(info.value).startswith(f"my.lex, line {line}: ")
    assert info.value.code == "invalid_lexicon"


def test_file_reload_keeps_old_entries_on_error(tmp_path):
    path = tmp_path / "lexicon.txt"
    path.write_text("SQL = sequel\n", "utf-8")
    loaded = LexiconFile(path)
    assert [e.key for e in loaded.lexicon.entries] == ["SQL"] and not loaded.changed()
    path.write_text("SQL = sequel\nNguyen = win\n", "utf-8")
    os.utime(path, ns=(1, 1))
    assert loaded.changed()
    assert len(loaded.reload()) == 2 and not loaded.changed()
    path.write_text("SQL = sequel\nbroken\n", "utf-8")
    with pytest.raises(LexiconError, match="line 2"):
        loaded.reload()
    assert len(loaded.lexicon) == 2


def test_file_errors(tmp_path):
    with pytest.raises(LexiconError, match="cannot read it"):
        LexiconFile(tmp_path / "missing.txt")
    with pytest.raises(LexiconError, match="not a regular file"):
        LexiconFile(tmp_path)  # a folder (or a FIFO, which would block the reader forever)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 = kafe\n".encode("latin-1"))
    with pytest.raises(LexiconError, match="not UTF-8"):
        LexiconFile(bad)


def test_many_entries_match_in_one_pass():
    lex = Lexicon(Entry.make(f"word{i}", respelling=f"said {i}") for i in range(5000))
    text = " ".join(f"word{i * 7 % 5000}" for i in range(1000)) + " word5000 wordx"
    assert [text[s:e] for s, e, _ in lex.find(text)] == text.split()[:1000]


def _reference_find(entries, text):
    """The matching rules, written out naively: at each position where a match may start, every key in
    order of preference (longest, then with capitals), one regular expression per key."""
    import re

    ranked = sorted(entries, key=lambda e: (-len(e.key), not e.cased))
    out, at = [], 0
    while at < len(text):
        for entry in ranked:
            body = r"\s+".join(re.escape(w) for w in entry.key.split())
            hit = re.compile(rf"(?<!\w){body}(?!\w)", 0 if entry.cased else re.IGNORECASE).match(text, at)
            if hit:
                out.append((hit.start(), hit.end(), entry.key))
                at = hit.end()
                break
        else:
            at += 1
    return out


def test_matches_agree_with_the_rules_written_out_naively():
    import random

    rng = random.Random(21)
    alphabet = ["a", "b", "A", "B", " ", ".", "-", "1"]
    for _ in range(200):
        keys = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))).strip() for _ in range(8)}
        entries = []
        for key in keys:
            try:
                entries.append(Entry.make(key, respelling="x"))
            except ValueError:
                pass
        lex = Lexicon(entries)
        text = "".join(rng.choice(alphabet + ["  ", "\n"]) for _ in range(60))
        got = [(s, e, entry.key) for s, e, entry in lex.find(text)]
        assert got == _reference_find(lex.entries, text), (sorted(keys), text)


def test_a_key_without_a_leading_letter_after_an_overlapping_match():
    lex = Lexicon([Entry.make("x .a", respelling="one"), Entry.make(".a -b", respelling="two"),
                   Entry.make("-b -c", respelling="three")])
    text = "x .a -b -c"  # "x .a" wins (it starts first); ".a -b" overlaps it; "-b -c" after it still counts
    assert [(text[s:e], entry.respelling) for s, e, entry in lex.find(text)] == [("x .a", "one"), ("-b -c", "three")]
    assert _reference_find(lex.entries, text) == [(0, 4, "x .a"), (5, 10, "-b -c")]


def test_long_keys_sharing_prefixes():
    lex = Lexicon(Entry.make("a" * k + "b", respelling=str(k)) for k in range(1, 100))
    text = " ".join("a" * k + "b" for k in range(99, 0, -7))
    assert [e.respelling for _, _, e in lex.find(text)] == [str(k) for k in range(99, 0, -7)]
