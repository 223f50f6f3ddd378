"""Words located in Piper's phonemes when espeak joined, reshaped or expanded them (no model needed)."""

from __future__ import annotations

from flashtts_engines.piper.alignment import WordSpan, locate_words, phoneme_bounds, sentence_words, text_words

# espeak-ng's phonemes for the sentence, and for each word spoken alone (as piper-tts 1.8 gives them)
SENTENCE = "I have 42 apples. It's easy to tell the depth of a well."
PHONEMES = [list("aɪ hæv fˈɔːɹɾi tˈuː ˈæpəlz."), list("ɪts ˈiːzi tə tˈɛl ðə dˈɛpθ əvə wˈɛl.")]
ALONE = {"I": "ˈaɪ", "have": "hˈæv", "42": "fˈɔːɹɾi tˈuː", "apples.": "ˈæpəlz.", "It's": "ɪts", "easy": "ˈiːzi",
         "to": "tuː", "tell": "tˈɛl", "the": "ðə", "depth": "dˈɛpθ", "of": "ʌv", "a": "ˈeɪ", "well.": "wˈɛl."}


def phonemize(token: str) -> list[list[str]]:
    return [list(ALONE[token])]


def test_every_word_gets_ordered_phonemes_in_its_sentence():
    spans = locate_words(SENTENCE, PHONEMES, phonemize)
    assert [s.word for s in spans] == [w for _, w in text_words(SENTENCE)]
    assert [s.sentence for s in spans] == [0] * 4 + [1] * 9
    order = [(s.sentence, s.first, s.last) for s in spans]
    assert all(a[0] < b[0] or a[2] < b[1] for a, b in zip(order, order[1:], strict=False)), order
    text = ["".join(PHONEMES[s.sentence][s.first:s.last + 1]) for s in spans]
    assert text[2] == "fˈɔːɹɾi tˈuː"  # one written word, two spoken ones
    assert text[9] == "dˈɛpθ"  # stress marks at a word's edge belong to it
    # "of a" became one spoken word "əvə": both words share it, in order, and "well" keeps its own
    assert "v" in text[10] and text[11].strip() == "ə" and text[12] == "wˈɛl"


def test_timings_follow_the_samples_of_each_phoneme():
    id_map = {ch: [i + 3] for i, ch in enumerate(sorted(set("".join(map("".join, PHONEMES)))))}
    id_map.update({"^": [1], "$": [2], "_": [0]})
    phonemes = PHONEMES[0]
    n_ids = 2 + 2 * len(phonemes) + 1  # BOS, pad, (id, pad) per phoneme, EOS
    samples = [100] * n_ids
    bounds = phoneme_bounds(phonemes, id_map, samples)
    assert bounds[0] == (200, 400) and bounds[-1][1] == 200 + 200 * len(phonemes)
    # "I" is phonemes 0-1, a word break (2), "have" 3-5, a word break (6), "42" 7-...
    spans = [WordSpan("I", 0, 0, 1), WordSpan("have", 0, 3, 5), WordSpan("42", 0, 7, 18)]
    words = sentence_words(spans, 0, phonemes, bounds, 1.0, 1000)
    # contiguous across word breaks (meeting halfway), each word from its first phoneme to its last
    assert [(w.word, w.start, w.end) for w in words][:2] == [("I", 1.2, 1.7), ("have", 1.7, 2.5)]
    assert words[2].end == 1.0 + bounds[18][1] / 1000
    spans[1] = WordSpan("have,", 0, 3, 4)  # a comma between words: a pause that stays a gap
    phonemes = phonemes[:5] + [","] + phonemes[6:]
    assert sentence_words(spans, 0, phonemes, bounds, 1.0, 1000)[1].end == 1.0 + bounds[4][1] / 1000
