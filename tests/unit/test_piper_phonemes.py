"""Piper's phoneme input: IPA mapped to a voice's symbols, raw ``[[ ]]`` phonemes kept out of text."""

from __future__ import annotations

import pytest

from flashtts_engines.piper.phonemes import escaped, ipa_symbols, leading_marks, sentences_of, spliced

# a part of an espeak-ng voice's symbol map (joe's holds these and no capitals, no ASCII g)
KNOWN = frozenset(" !,.:;?'aeiouklmnpstwzæðŋɑɔəɛɜɡɪɹʃʊʌθˈˌːɚ") | {"\u0303"}


def test_escaped_breaks_double_brackets_apart():
    assert escaped("say [[ hˈɛloʊ ]] now") == "say [ [ hˈɛloʊ ] ] now"
    assert "[[" not in escaped("[[[[x]]]]") and "]]" not in escaped("[[[[x]]]]")
    assert escaped("a [single] bracket") == "a [single] bracket"


def test_common_spellings_become_the_voice_symbols():
    assert ipa_symbols("g3:l".replace("3", "ɜ"), KNOWN) == list("ɡɜːl")
    assert ipa_symbols("'kOkəɹO", KNOWN) == list("ˈkoʊkəɹoʊ")
    assert ipa_symbols("kə.ˈt\u0361ʃɪ", KNOWN | {"t"}) == list("kəˈtʃɪ")  # syllable dot, tie bar dropped
    assert ipa_symbols("ã", KNOWN) == ["a", "\u0303"]  # precomposed -> base + combining mark


def test_a_symbol_the_voice_lacks_is_named():
    with pytest.raises(ValueError, match=r"U\+019B"):
        ipa_symbols("ƛa", KNOWN)


def test_phonemes_for_a_text_keep_sentence_marks_and_split_there():
    symbols = ipa_symbols("həlˈoʊ. ɡʊd bˈaɪ!", KNOWN | {"h", "b", "d"})
    assert ["".join(s) for s in sentences_of(symbols)] == ["həlˈoʊ.", "ɡʊd bˈaɪ!"]


def test_spliced_joins_a_word_into_its_sentence():
    sentences = [list("ðə")]
    spliced(sentences, [list("ɡɜːl")])
    spliced(sentences, [list("wʌz ðɛɹ."), list("jɛs")], leading=",")
    spliced(sentences, [], leading=".")  # a text piece of only punctuation ends the sentence
    assert ["".join(s) for s in sentences] == ["ðə ɡɜːl, wʌz ðɛɹ.", "jɛs."]
    assert leading_marks(", was", KNOWN) == "," and leading_marks(" ... so", KNOWN) == "."
    assert not leading_marks("a", KNOWN)
