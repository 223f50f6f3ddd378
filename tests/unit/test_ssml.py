"""SSML and inline forms read into the document model (flashtts.ssml), hostile documents refused.

Speed of refusal is measured by benchmarks/ssml_hostile.py, not asserted here.
"""

from __future__ import annotations

import math

import pytest
from hostile_ssml import HOSTILE

from flashtts.ssml import Limits, Pause, Prosody, Segment, SSMLError, is_ssml, parse_inline, parse_ssml, read
from flashtts.ssml.values import RATES
from flashtts.text import normalize, numbers


def spans(doc, index=0):
    return [(s.kind, s.text) for s in doc.segments[index].spans]


# ---- recognising SSML ----------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["<speak>hi</speak>", "  \n<speak version='1.1'>hi</speak>", "\ufeff<speak/>",
                                  '<?xml version="1.0"?><speak>hi</speak>', "<!DOCTYPE x><speak/>",
                                  "<!-- note --><speak>hi</speak>"])
def test_is_ssml(text):
    assert is_ssml(text)


@pytest.mark.parametrize("text", ["hello <speak>", "<speaker>hi</speaker>", "<b>bold</b>", "speak", ""])
def test_is_not_ssml(text):
    assert not is_ssml(text)


# ---- elements ------------------------------------------------------------------------------------
def test_text_whitespace_collapsed_and_trimmed():
    doc = parse_ssml("<speak>\n   Hello\n\t  there,   world.  </speak>")
    assert doc.source == "ssml"
    assert doc.text == "Hello there, world."


def test_break_time_and_strength_split_segments():
    doc = parse_ssml('<speak>One. <break time="700ms"/>Two. <break time="1.5s"/>Three <break strength="strong"/>'
                     'four <break/> five <break strength="none"/> six</speak>')
    kinds = [(type(i).__name__, i.seconds if isinstance(i, Pause) else i.text) for i in doc.items]
    assert kinds == [("Segment", "One."), ("Pause", 0.7), ("Segment", "Two."), ("Pause", 1.5),
                     ("Segment", "Three"), ("Pause", 0.75), ("Segment", "four"), ("Pause", 0.5),
                     ("Segment", "five"), ("Segment", "six")]
    assert doc.pause_seconds == pytest.approx(0.7 + 1.5 + 0.75 + 0.5)


def test_adjacent_breaks_add_up_and_leading_break_kept():
    doc = parse_ssml('<speak><break time="200ms"/>Hi <break time="300ms"/><break time="400ms"/> there</speak>')
    assert [i.seconds if isinstance(i, Pause) else i.text for i in doc.items] == [0.2, "Hi", 0.7, "there"]


def test_sub_says_the_alias():
    doc = parse_ssml('<speak>The <sub alias="World Wide Web Consortium">W3C</sub> sets standards.</speak>')
    assert doc.text == "The World Wide Web Consortium sets standards."
    assert ("sub", "World Wide Web Consortium") in spans(doc)


def test_phoneme_keeps_word_and_ipa():
    doc = parse_ssml('<speak>I say <phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato</phoneme>.</speak>')
    span = doc.segments[0].spans[1]
    assert (span.kind, span.text, span.ipa, span.strict) == ("phoneme", "tomato", "təˈmɑːtoʊ", True)
    assert doc.has_ipa and doc.strict_spans == [span]


def test_phoneme_without_alphabet_is_ipa():
    assert parse_ssml('<speak><phoneme ph="wɪn">Nguyen</phoneme></speak>').segments[0].spans[0].ipa == "wɪn"


@pytest.mark.parametrize(("markup", "code", "words"), [
    ('<phoneme alphabet="x-sampa" ph="t@">x</phoneme>', "ssml_unsupported_alphabet", "x-sampa"),
    ('<phoneme ph="t/2">x</phoneme>', "invalid_ssml", "not IPA"),
    ("<phoneme>x</phoneme>", "invalid_ssml", "ph attribute"),
    ('<phoneme ph="x">a <break/> b</phoneme>', "invalid_ssml", "text only"),
    ("<sub>W3C</sub>", "invalid_ssml", "alias"),
    ("<say-as>12</say-as>", "invalid_ssml", "interpret-as"),
    ("<lang>bonjour</lang>", "invalid_ssml", "xml:lang"),
    ('<lang xml:lang="not a tag">x</lang>', "invalid_ssml", "language tag"),
    ('<break time="-1s"/>', "invalid_ssml", "negative"),
    ('<break time="fast"/>', "invalid_ssml", "not a time"),
    ('<break strength="huge"/>', "invalid_ssml", "break strength"),
    ("<break>text</break>", "invalid_ssml", "empty"),
    ('<prosody rate="warp">x</prosody>', "invalid_ssml", "not a rate"),
    ('<prosody rate="10">x</prosody>', "invalid_ssml", "outside"),
    ('<prosody rate="x-slow"><prosody rate="x-slow"><prosody rate="x-slow">x</prosody></prosody></prosody>',
     "invalid_ssml", "outside"),
    ('<prosody pitch="+40st">x</prosody>', "invalid_ssml", "outside"),
    ('<prosody pitch="3">x</prosody>', "invalid_ssml", "unit"),
    ('<prosody volume="+30dB">x</prosody>', "invalid_ssml", "outside"),
])
def test_bad_elements_are_errors_at_the_element(markup, code, words):
    with pytest.raises(SSMLError) as info:
        parse_ssml(f"<speak>\n  {markup}</speak>")
    assert info.value.code == code
    assert words in str(info.value)
    assert info.value.line == 2


def test_root_must_be_speak():
    with pytest.raises(SSMLError, match="root element") as info:
        parse_ssml("<?xml version='1.0'?><voice>hi</voice>")
    assert info.value.code == "ssml_not_speak"


def test_malformed_xml_says_line_and_column():
    with pytest.raises(SSMLError) as info:
        parse_ssml("<speak>\n<s>one</s>\n<s>tw\u00f6 <b>three</s>\n</speak>")
    error = info.value
    assert (error.code, error.line, error.column) == ("ssml_malformed", 3, 18)  # the name in </s>; ö counts 1
    assert "line 3, column 18" in str(error) and "mismatched tag" in str(error)


def test_p_and_s_bound_segments():
    doc = parse_ssml("<speak><p><s>First one</s><s>second one</s></p><p>Third</p> fourth</speak>")
    assert [s.text for s in doc.segments] == ["First one", "second one", "Third", "fourth"]


def test_prosody_rate_labels_numbers_and_percentages_multiply():
    doc = parse_ssml('<speak><prosody rate="slow">a <prosody rate="+50%">b <prosody rate="2">c</prosody></prosody>'
                     '</prosody> <prosody rate="80%">d</prosody></speak>')
    rates = [s.prosody.rate for s in doc.segments]
    assert rates == pytest.approx([RATES["slow"], RATES["slow"] * 1.5, RATES["slow"] * 3, 0.8])
    assert RATES["slow"] == 0.64  # docs/ssml.md: slow lasts 1/0.64 = 1.5625x as long


def test_prosody_pitch_and_volume():
    doc = parse_ssml('<speak><prosody pitch="+12st" volume="-6dB">a</prosody><prosody pitch="low" volume="silent">'
                     'b</prosody><prosody pitch="-10%" volume="loud">c</prosody><prosody pitch="150Hz">d</prosody>'
                     '</speak>')
    p = [s.prosody for s in doc.segments]
    assert p[0].pitch == pytest.approx(2.0) and p[0].volume == pytest.approx(10 ** (-6 / 20))
    assert p[1].pitch == pytest.approx(0.9) and p[1].volume == 0.0
    assert p[2].pitch == pytest.approx(0.9) and p[2].volume == pytest.approx(10 ** (6 / 20))
    assert p[3] == Prosody() and "prosody@pitch=Hz" in doc.ignored


def test_trailing_punctuation_joins_the_segment_before():
    doc = parse_ssml('<speak>Say it <prosody rate="slow">slowly</prosody>.</speak>')
    assert [s.text for s in doc.segments] == ["Say it", "slowly."]


def test_voice_and_language_switch_and_nest():
    doc = parse_ssml('<speak xml:lang="en-US">Hi <voice name="amy">I am Amy <lang xml:lang="fr-FR">bonjour</lang>'
                     '</voice> <voice name="joe"><s xml:lang="de">hallo</s></voice> bye</speak>')
    got = [(s.text, s.voice, s.language) for s in doc.segments]
    assert got == [("Hi", None, "en-US"), ("I am Amy", "amy", "en-US"), ("bonjour", "amy", "fr-FR"),
                   ("hallo", "joe", "de"), ("bye", None, "en-US")]
    assert doc.voices == {"amy", "joe"}


def test_unknown_and_unsupported_are_kept_as_text_and_listed():
    doc = parse_ssml('<speak xmlns:mstts="http://www.w3.org/2001/mstts">I <emphasis level="strong">really</emphasis>'
                     ' <mstts:express-as style="cheerful">mean</mstts:express-as> it<mark name="m1"/>'
                     '<voice name="amy" gender="female">ok</voice><prosody contour="(0%,+20Hz)">fine</prosody>'
                     ' <audio src="http://127.0.0.1:9/x.wav">beep<desc>a beep</desc></audio>'
                     '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd"/></speak>')
    assert doc.text == "I really mean it\nok\nfine beep"
    assert doc.ignored == ("emphasis", "mstts:express-as", "mark", "voice@gender", "prosody@contour", "audio",
                           "desc", "xi:include")


def test_entities_and_cdata_that_xml_defines_are_text():
    doc = parse_ssml("<speak>Fish &amp; chips &lt;3 &#233;t&#xE9; <![CDATA[<b> & </b>]]></speak>")
    assert doc.text == "Fish & chips <3 été <b> & </b>"


def test_empty_document_has_no_segments():
    assert parse_ssml("<speak>  </speak>").items == ()
    assert parse_ssml("<speak/>").items == ()


# ---- say-as --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "attrs", "text", "spoken"), [
    ("characters", "", "NASA", "N, A, S, A"),
    ("spell-out", "", "w3c", "W, three, C"),
    ("cardinal", "", "1999", "one thousand nine hundred ninety-nine"),
    ("cardinal", "", "-12.5", "minus twelve point five"),
    ("cardinal", "", "1,234", numbers.cardinal(1234)),
    ("number", "", "42", "forty-two"),
    ("ordinal", "", "21", "twenty-first"),
    ("ordinal", "", "3rd", "third"),
    ("digits", "", "2024", "two zero two four"),
    ("date", "", "2024-12-25", normalize.english("2024-12-25")),
    ("date", 'format="dmy"', "25/12/1999", "December twenty-fifth, nineteen ninety-nine"),
    ("date", 'format="mdy"', "12.25.1999", "December twenty-fifth, nineteen ninety-nine"),
    ("date", 'format="ym"', "1999-12", "December nineteen ninety-nine"),
    ("date", 'format="md"', "12/25", "December twenty-fifth"),
    ("date", 'format="y"', "1999", "nineteen ninety-nine"),
    ("time", "", "10:30pm", normalize.english("10:30pm")),
    ("time", "", "7:05", "seven oh five"),
    ("telephone", "", "+1 555-0123", "plus one, five five five, zero one two three"),
    ("currency", "", "$5.50", "five dollars and fifty cents"),
    ("currency", "", "USD 5.50", "five dollars and fifty cents"),
    ("currency", "", "3 EUR", "three euros"),
])
def test_say_as_reads_through_the_normaliser(kind, attrs, text, spoken):
    doc = parse_ssml(f'<speak>Say <say-as interpret-as="{kind}" {attrs}>{text}</say-as> now</speak>')
    span = doc.segments[0].spans[1]
    assert (span.kind, span.text.rstrip(",")) == ("say-as", spoken)
    assert doc.ignored == ()


def test_characters_before_punctuation_lose_their_last_comma():
    doc = parse_ssml('<speak>Call <say-as interpret-as="characters">NASA</say-as>.</speak>')
    assert doc.text == "Call N, A, S, A."


@pytest.mark.parametrize(("kind", "text"), [("date", "13/45/2020"), ("date", "someday"), ("cardinal", "many"),
                                            ("time", "noon"), ("address", "1 Main St"), ("ordinal", "first")])
def test_say_as_that_cannot_be_read_is_said_as_written_and_listed(kind, text):
    doc = parse_ssml(f'<speak><say-as interpret-as="{kind}">{text}</say-as></speak>')
    assert doc.text == text
    assert doc.segments[0].spans[0].kind == "text"
    assert doc.ignored == (f"say-as@interpret-as={kind}",)


def test_say_as_in_other_languages_spells_but_leaves_numbers_to_the_engine():
    doc = parse_ssml('<speak xml:lang="de-DE"><say-as interpret-as="characters">ABC1</say-as> '
                     '<say-as interpret-as="cardinal">42</say-as></speak>')
    assert doc.text == "A, B, C, 1, 42"
    assert doc.ignored == ("say-as@interpret-as=cardinal",)


# ---- hostile documents ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_document_is_refused(name):
    document, code = HOSTILE[name]
    with pytest.raises(SSMLError) as info:
        read(document)
    assert info.value.code == code, str(info.value)


def test_hostile_breaks_past_the_element_limit_when_size_allows():
    with pytest.raises(SSMLError) as info:
        parse_ssml(HOSTILE["100,000 breaks"][0], Limits(max_chars=10**7))
    assert info.value.code == "ssml_too_many_elements"


def test_external_entity_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET", "utf-8")
    with pytest.raises(SSMLError) as info:
        parse_ssml(f'<!DOCTYPE speak [<!ENTITY x SYSTEM "{secret.as_uri()}">]><speak>&x;</speak>')
    assert "TOPSECRET" not in str(info.value)


def test_limits_are_settable():
    assert parse_ssml("<speak>" + "<s>x</s>" * 10 + "</speak>", Limits(max_elements=11)).text.count("x") == 10
    with pytest.raises(SSMLError, match="more than 10 elements"):
        parse_ssml("<speak>" + "<s>x</s>" * 10 + "</speak>", Limits(max_elements=10))
    with pytest.raises(SSMLError, match="longer than the 1 s limit"):
        parse_ssml('<speak><break time="1.5s"/></speak>', Limits(max_break=1.0))


# ---- inline forms --------------------------------------------------------------------------------
def test_inline_pronunciation_and_pauses():
    doc = parse_inline("Hello [Kokoro](/kˈOkəɹO/) fans. [pause:0.5s] Next [pause: 250ms]part [silent .2s] end.")
    assert doc.source == "inline"
    assert [i.seconds if isinstance(i, Pause) else i.text for i in doc.items] == [
        "Hello Kokoro fans.", 0.5, "Next", 0.25, "part", 0.2, "end."]
    span = doc.segments[0].spans[1]
    assert (span.kind, span.text, span.ipa) == ("inline", "Kokoro", "kˈOkəɹO")


def test_inline_text_keeps_its_lines_for_the_normaliser():
    doc = parse_inline("# Title\n\n- item one\n- item [two](/tuː/)\n")
    assert doc.segments[0].text == "# Title\n\n- item one\n- item two"


def test_inline_leaves_links_and_lookalikes_as_written():
    text = "See [the docs](/v1/) and [silent treatment] or [this](https://example.com/)."
    doc = parse_inline(text)
    assert doc.source == "text" and doc.text == text


@pytest.mark.parametrize(("text", "code"), [("a [pause:forever] b", "invalid_pause"),
                                            ("a [pause:11s] b", "ssml_break_too_long"),
                                            ("a" + " [pause:9s]" * 7, "ssml_break_too_long")])
def test_bad_inline_pause_is_an_error_with_position(text, code):
    with pytest.raises(SSMLError) as info:
        parse_inline(text)
    assert info.value.code == code and info.value.line == 1 and info.value.column >= 3


def test_inline_bracket_flood_is_read_in_linear_time():
    text = ("[" + "a" * 99) * 2000 + "[pause:" + "x" * 19
    assert parse_inline(text).text == text


def test_inline_forms_off_without_normalize_and_in_ssml():
    text = "Say [Kokoro](/kˈOkəɹO/) [pause:1s] now"
    assert read(text, normalize=False).text == text
    assert read(text, normalize=False).source == "text"
    ssml = read(f"<speak>{text}</speak>")
    assert ssml.text == text and ssml.source == "ssml"


def test_read_chooses_ssml_even_without_normalize():
    assert read('<speak>a<break time="1s"/>b</speak>', normalize=False).pause_seconds == 1.0


def test_map_text_rewrites_only_text_spans():
    doc = parse_ssml('<speak>I have 3 <sub alias="3 cats">cats</sub> and <say-as interpret-as="digits">12'
                     '</say-as></speak>')
    out = doc.map_text(lambda t: normalize.normalize(t, "en"))
    assert out.text == "I have three 3 cats and one two"
    assert isinstance(out.items[0], Segment) and math.isclose(out.items[0].prosody.rate, 1.0)
