"""Voice-mix names (``af_bella(2)+af_sky(1)``) read by flashtts.voices.mixing: weights, and what is malformed."""

from __future__ import annotations

import pytest

from flashtts.voices.mixing import MixError, looks_like_mix, parse_mix


def test_weights_are_normalised_in_the_order_written():
    mix = parse_mix("af_bella(2)+af_sky(1)")
    assert mix.voices == ("af_bella", "af_sky")
    assert [w for _, w in mix.parts] == pytest.approx([2 / 3, 1 / 3])
    assert mix.name == "af_bella(0.6667)+af_sky(0.3333)"


def test_parts_without_numbers_weigh_the_same_and_spaces_are_allowed():
    mix = parse_mix(" af_bella + af_sky( 0.5 )+bm_george ")
    assert [w for _, w in mix.parts] == pytest.approx([0.4, 0.2, 0.4])
    assert mix.voices == ("af_bella", "af_sky", "bm_george")


def test_a_voice_named_twice_adds_up():
    mix = parse_mix("a(1)+b(1)+a(2)")
    assert dict(mix.parts) == pytest.approx({"a": 0.75, "b": 0.25})


def test_the_canonical_name_reads_back_as_the_same_mix():
    mix = parse_mix("a(3)+b(1)")
    again = parse_mix(mix.name)
    assert again.voices == mix.voices
    assert [w for _, w in again.parts] == pytest.approx([w for _, w in mix.parts], abs=1e-4)


@pytest.mark.parametrize(("value", "problem"), [
    ("af_bella+", "part 2 is empty"),
    ("+af_bella", "part 1 is empty"),
    ("af_bella++af_sky", "part 2 is empty"),
    ("af_bella(2", "not voice or voice(weight)"),
    ("af_bella2)", "not voice or voice(weight)"),
    ("af_bella(x)+af_sky", "weight 'x' of 'af_bella' is not a number"),
    ("af_bella()+af_sky", "weight '' of 'af_bella' is not a number"),
    ("af_bella(0)+af_sky(1)", "weight of 'af_bella' is 0; weights must be > 0"),
    ("af_bella(-1)+af_sky(1)", "weights must be > 0"),
    ("af_bella(inf)", "weights must be > 0"),
    ("af_bella(nan)", "weights must be > 0"),
    ("(2)+af_sky", "not voice or voice(weight)"),
    ("+".join(["a"] * 17), "at most 16"),
    ("a(1e308)+b(1e308)", "more than a float holds"),
])
def test_malformed_mixes_name_the_problem(value, problem):
    with pytest.raises(MixError) as err:
        parse_mix(value)
    assert problem in str(err.value) and value in str(err.value)


def test_what_reads_as_a_mix():
    assert looks_like_mix("a+b") and looks_like_mix("a(2)") and not looks_like_mix("af_bella")
