"""Word timestamps of a document: the words a client is told, on a timeline that pauses move along.

An engine reports timings for the words it says. For a segment those are the words of its spans'
``text``: a ``<sub>`` alias, spelled-out characters and ``<say-as>`` readings are what is said and
what is reported. A respelling (lexicon) is said but its written word is reported: :func:`relabel`
puts the written word over the time its respelling took. :class:`Timeline` places each segment
after the audio and pauses before it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from flashtts.engine import WordTiming
from flashtts.ssml.model import Document, Pause, Segment, words_of

_FOLD = re.compile(r"\W+")


@dataclass(frozen=True)
class WordSlot:
    """The words an engine says for one span and the words the client is told for them."""

    spoken: tuple[str, ...]
    shown: tuple[str, ...]


def _words_by_span(texts: Sequence[str]) -> dict[int, list[str]]:
    """The words of ``"".join(texts)`` by the index of the text their first letter or digit is in."""
    owners: list[int] = []
    for index, text in enumerate(texts):
        owners.extend([index] * len(text))
    found: dict[int, list[str]] = {}
    for m in re.finditer(r"\S+", "".join(texts)):
        first = next((m.start() + i for i, ch in enumerate(m.group(0)) if ch.isalnum()), None)
        words = words_of(m.group(0))
        if first is not None and words:
            found.setdefault(owners[first], []).extend(words)
    return found


def word_slots(segment: Segment) -> list[WordSlot]:
    """One slot per span of ``segment`` that says something.

    Words are cut from the whole segment (a word straddling two spans, like a respelled name and
    its ``'s``, belongs to the span its first letter is in), once as said and once as written."""
    spoken = _words_by_span([s.text for s in segment.spans])
    shown = _words_by_span([s.written if s.written is not None else s.text for s in segment.spans])
    slots = []
    for index in range(len(segment.spans)):
        said = tuple(spoken.get(index, ()))
        if said:
            slots.append(WordSlot(said, tuple(shown.get(index, ()))))
    return slots


def _fold(word: str) -> str:
    return _FOLD.sub("", word.casefold())


def _spread(words: Sequence[str], start: float, end: float) -> list[WordTiming]:
    """``words`` over ``start``-``end``, each a share as long as its letters."""
    total = sum(max(1, len(w)) for w in words) or 1
    out, at = [], start
    for w in words:
        step = (end - start) * max(1, len(w)) / total
        out.append(WordTiming(w, at, at + step))
        at += step
    return out


def relabel(slots: Sequence[WordSlot], timings: Sequence[WordTiming]) -> list[WordTiming]:
    """The engine's ``timings`` for a segment (one per spoken word, in order) as the client's words.

    With one timing per spoken word they pair up in order; otherwise they are matched by their text
    (an engine merged or dropped a word). A slot whose shown words differ from its spoken ones gets
    them spread over the time its spoken words took; timings that match no slot pass through."""
    spoken = [w for slot in slots for w in slot.spoken]
    if len(spoken) == len(timings):
        timing_of = dict(enumerate(timings))
    else:
        matcher = SequenceMatcher(None, [_fold(w) for w in spoken], [_fold(t.word) for t in timings],
                                  autojunk=False)
        timing_of = {a + k: timings[b + k] for a, b, size in matcher.get_matching_blocks() for k in range(size)}
    used = {id(t) for t in timing_of.values()}
    out: list[WordTiming] = [t for t in timings if id(t) not in used]
    position = 0
    for slot in slots:
        times = [timing_of[k] for k in range(position, position + len(slot.spoken)) if k in timing_of]
        position += len(slot.spoken)
        if slot.shown == slot.spoken:
            out.extend(times)
        elif times:
            out.extend(_spread(slot.shown, times[0].start, times[-1].end))
    out.sort(key=lambda t: t.start)
    return out


class Timeline:
    """Where each segment of a document falls in its audio: segments and pauses one after another."""

    def __init__(self) -> None:
        self.now = 0.0
        """Seconds of audio (speech and pauses) placed so far."""

    def pause(self, seconds: float) -> None:
        self.now += seconds

    def place(self, words: Iterable[WordTiming], duration: float, scale: float = 1.0) -> list[WordTiming]:
        """Words timed within a segment moved to where it starts, then the timeline moved past its
        ``duration`` (seconds as heard); ``scale`` stretches the words' times (1/rate when the segment
        was sped up or slowed down after the engine)."""
        placed = [w.shifted(self.now, scale) for w in words]
        self.now += duration
        return placed


def document_words(document: Document, segment_timings: Sequence[tuple[Sequence[WordTiming], float]],
                   scales: Sequence[float] | None = None) -> list[WordTiming]:
    """All the client's words of ``document`` on its audio's timeline, given for each segment (in
    order) the engine's timings and the segment's duration as heard."""
    if len(segment_timings) != len(document.segments):
        raise ValueError(f"{len(segment_timings)} segment timings for {len(document.segments)} segments")
    timeline = Timeline()
    out: list[WordTiming] = []
    segments = iter(zip(segment_timings, scales or [1.0] * len(segment_timings), strict=True))
    for item in document.items:
        if isinstance(item, Pause):
            timeline.pause(item.seconds)
            continue
        (timings, duration), scale = next(segments)
        out.extend(timeline.place(relabel(word_slots(item), timings), duration, scale))
    return out

