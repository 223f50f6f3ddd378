"""Word timings for Piper: the words of a text located in its phonemes, then timed by the model.

espeak-ng phonemises a text by sentence and joins or reshapes words in context ("of a" ->
``əvə``, "a" -> ``ɐ``, "42" -> two words), so words are found by aligning each word's own
phonemes (spoken alone) with the sentence's phonemes, ignoring stress, length marks, spaces and
punctuation. A word whose phonemes changed past recognition gets the phonemes between its
neighbours. Piper's patched model reports how many samples each phoneme id lasted; a word
lasts from its first phoneme to its last.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from flashtts.engine import WordTiming

BOS, EOS, PAD = "^", "$", "_"
_MARKS = frozenset("ˈˌːˑ")


@dataclass(frozen=True)
class WordSpan:
    """A word of the text and the phonemes (sentence index, first, last inclusive) it is spoken with."""

    word: str
    sentence: int
    first: int
    last: int


def text_words(text: str) -> list[tuple[str, str]]:
    """(token as written, word to show) for each whitespace-separated token that has a letter or digit."""
    out = []
    for token in text.split():
        word = token.strip("\"'“”‘’()[]{}<>«».,;:!?¡¿…-–—*_")
        if any(ch.isalnum() for ch in word):
            out.append((token, word))
    return out


def _comparable(phoneme: str) -> str:
    """The phoneme with stress/length marks, spaces and punctuation removed ('' when nothing is left)."""
    return "".join(ch for ch in phoneme if ch not in _MARKS and unicodedata.category(ch)[0] in "LM")


def locate_words(text: str, sentences: Sequence[Sequence[str]], phonemize: Callable[[str], Sequence[Sequence[str]]],
                 words: Sequence[tuple[str, str]] | None = None) -> list[WordSpan]:
    """Where each word of ``text`` is spoken in ``sentences`` (Piper's phonemes of the same text); the
    words are :func:`text_words`' unless given as (token to phonemise, word to show) pairs (for
    languages written without spaces)."""
    key: list[str] = []
    where: list[tuple[int, int]] = []
    for s, phonemes in enumerate(sentences):
        for i, ph in enumerate(phonemes):
            c = _comparable(ph)
            if c:
                key.append(c)
                where.append((s, i))
    words = list(text_words(text) if words is None else words)
    wkey: list[str] = []
    owner: list[int] = []
    for w, (token, _) in enumerate(words):
        for phonemes in phonemize(token):
            for ph in phonemes:
                c = _comparable(ph)
                if c:
                    wkey.append(c)
                    owner.append(w)
    hits: list[list[int]] = [[] for _ in words]  # indices into ``key``
    for a, b, size in SequenceMatcher(None, wkey, key, autojunk=False).get_matching_blocks():
        for k in range(size):
            hits[owner[a + k]].append(b + k)
    return _spans(words, hits, where, sentences)


def _matched(word: str, hits: list[int], where: list[tuple[int, int]], sentences: Sequence[Sequence[str]]) -> WordSpan:
    """A matched word's span, widened over the stress and length marks at its edges (they last too)."""
    sentence, first = where[hits[0]]
    end_sentence, last = where[hits[-1]]
    phonemes = sentences[sentence]
    if end_sentence != sentence:
        last = len(phonemes) - 1
    while first > 0 and phonemes[first - 1] in _MARKS:
        first -= 1
    while last + 1 < len(phonemes) and phonemes[last + 1] in _MARKS:
        last += 1
    return WordSpan(word, sentence, first, last)


def _spans(words: list[tuple[str, str]], hits: list[list[int]], where: list[tuple[int, int]],
           sentences: Sequence[Sequence[str]]) -> list[WordSpan]:
    """Spans of matched words; unmatched runs share the phonemes between their matched neighbours."""
    if not where:
        return []
    sizes = [len(p) for p in sentences]
    spans: list[WordSpan | None] = [_matched(word, h, where, sentences) if h else None
                                    for (_, word), h in zip(words, hits, strict=False)]
    i = 0
    while i < len(spans):
        if spans[i] is not None:
            i += 1
            continue
        j = i
        while j < len(spans) and spans[j] is None:
            j += 1
        prev = spans[i - 1] if i > 0 else None
        nxt = spans[j] if j < len(spans) else None
        sentence = prev.sentence if prev is not None else (nxt.sentence if nxt is not None else 0)
        lo = prev.last + 1 if prev is not None else 0
        hi = nxt.first - 1 if nxt is not None and nxt.sentence == sentence else sizes[sentence] - 1
        count = j - i
        room = max(hi - lo + 1, 0)
        for k in range(count):
            first = lo + room * k // count
            last = max(first, lo + room * (k + 1) // count - 1) if room else first
            first = min(first, max(sizes[sentence] - 1, 0))
            last = min(last, max(sizes[sentence] - 1, 0))
            spans[i + k] = WordSpan(words[i + k][1], sentence, first, last)
        i = j
    return [s for s in spans if s is not None]


def phoneme_bounds(phonemes: Sequence[str], id_map: Mapping[str, Sequence[int]],
                   id_samples: Sequence[int]) -> list[tuple[int, int]]:
    """Sample range [start, end) of each phoneme (with its trailing pad) in one sentence's audio."""
    pad = len(id_map.get(PAD, ()))
    pos = len(id_map.get(BOS, ())) + pad
    cumulative = [0]
    for n in id_samples:
        cumulative.append(cumulative[-1] + int(n))
    bounds = []
    for ph in phonemes:
        n = len(id_map[ph]) + pad if ph in id_map else 0
        end = min(pos + n, len(id_samples))
        bounds.append((cumulative[min(pos, len(id_samples))], cumulative[end]))
        pos = end
    return bounds


def sentence_words(spans: Sequence[WordSpan], sentence: int, phonemes: Sequence[str],
                   bounds: Sequence[tuple[int, int]], offset: float, rate: int) -> list[WordTiming]:
    """Timings of the words spoken in one sentence, ``offset`` seconds after the request's start.

    Words separated only by a word break meet halfway across it; a pause at punctuation stays a gap.
    """
    mine = [s for s in spans if s.sentence == sentence]
    if not bounds or not mine:
        return []
    top = len(bounds) - 1
    edges = [[bounds[min(s.first, top)][0], max(bounds[min(s.last, top)][1], bounds[min(s.first, top)][0])]
             for s in mine]
    for k in range(len(mine) - 1):
        between = phonemes[mine[k].last + 1:mine[k + 1].first]
        if all(ph.isspace() for ph in between) and edges[k][1] <= edges[k + 1][0]:
            edges[k][1] = edges[k + 1][0] = (edges[k][1] + edges[k + 1][0]) // 2
    return [WordTiming(s.word, offset + a / rate, offset + b / rate) for s, (a, b) in zip(mine, edges, strict=True)]
