"""The document model every way of saying text (SSML, inline forms, a lexicon, plain text) turns into.

A :class:`Document` is a sequence of :class:`Segment` (speech in one voice, language and prosody)
and :class:`Pause` (silence of a given length). A segment holds :class:`Span` s: runs of text
that are said as written (``kind == "text"``, the only spans the normaliser may still rewrite)
or whose saying is fixed: a ``<sub>`` alias, a ``<say-as>`` reading, a ``<phoneme>``, a lexicon
entry, an inline ``[word](/ipa/)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

SPAN_KINDS = ("text", "sub", "say-as", "phoneme", "lexicon", "inline")
"""``text``: as written (normalisable); ``sub``/``say-as``: what is said changed (timestamps report the
spoken words); ``phoneme``/``lexicon``/``inline``: how a word is said changed (timestamps report the
written word)."""

_CLOSING_MARKS = frozenset(".,;:!?…")
_WORD_EDGES = "\"'“”‘’()[]{}<>«».,;:!?¡¿…-–—*_"


def words_of(text: str) -> tuple[str, ...]:
    """The words of ``text`` a timestamp reports: whitespace-separated tokens with a letter or digit,
    surrounding quotes, brackets and punctuation trimmed."""
    found = (token.strip(_WORD_EDGES) for token in text.split())
    return tuple(w for w in found if any(ch.isalnum() for ch in w))


@dataclass(frozen=True)
class Prosody:
    """Relative speaking rate, pitch and volume of a segment (1.0 each: the voice as it is)."""

    rate: float = 1.0
    """Speed factor: 2.0 says the same words in half the time."""
    pitch: float = 1.0
    """Frequency factor: 2.0 is an octave up."""
    volume: float = 1.0
    """Amplitude factor: 0.0 is silent, 2.0 is about +6 dB."""

    def is_neutral(self) -> bool:
        return self == Prosody()


@dataclass(frozen=True)
class Span:
    """A run of a segment's text and how it is to be said."""

    text: str
    """What a text engine is given: the text as written, an alias, a reading, a respelling."""
    kind: str = "text"
    ipa: str | None = None
    """A pronunciation in IPA: an engine that takes phonemes says this instead of phonemising ``text``."""
    written: str | None = None
    """The text as the user wrote it, when ``text`` is a respelling of it (timestamps report it)."""

    @property
    def strict(self) -> bool:
        """Only an engine that takes phonemes can say it as asked (an SSML ``<phoneme>``); lexicon and
        inline pronunciations fall back to ``text`` on other engines."""
        return self.kind == "phoneme"


@dataclass(frozen=True)
class Segment:
    """Speech in one voice, language and prosody; segments are never merged into one engine call."""

    spans: tuple[Span, ...]
    voice: str | None = None
    """A voice or role name (``<voice name>``); ``None``: the request's voice."""
    language: str | None = None
    """A language tag (``xml:lang``); ``None``: the request's language."""
    prosody: Prosody = field(default_factory=Prosody)

    @property
    def text(self) -> str:
        """The segment as a text engine says it."""
        return "".join(s.text for s in self.spans)

    @property
    def has_ipa(self) -> bool:
        return any(s.ipa is not None for s in self.spans)

    def map_text(self, rewrite: Callable[[str], str]) -> Segment:
        """The segment with ``rewrite`` applied to its ``text`` spans (the normaliser, a lexicon)."""
        return replace(self, spans=tuple(replace(s, text=_rewrite_core(s.text, rewrite)) if s.kind == "text" else s
                                         for s in self.spans))


@dataclass(frozen=True)
class Pause:
    """Silence of ``seconds``."""

    seconds: float


Item = Segment | Pause


@dataclass(frozen=True)
class Document:
    """What to say, in order, and what of the markup was not acted on."""

    items: tuple[Item, ...]
    source: str = "text"
    """``ssml``, ``inline`` (plain text with inline forms) or ``text``."""
    ignored: tuple[str, ...] = ()
    """Elements and attributes kept as text or skipped (``emphasis``, ``prosody@contour``), each once."""

    @property
    def segments(self) -> list[Segment]:
        return [i for i in self.items if isinstance(i, Segment)]

    @property
    def pause_seconds(self) -> float:
        return sum(i.seconds for i in self.items if isinstance(i, Pause))

    @property
    def text(self) -> str:
        """Everything a text engine would say, segments on lines of their own (for limits and logs)."""
        return "\n".join(s.text for s in self.segments)

    @property
    def voices(self) -> set[str]:
        """The voice names the document switches to."""
        return {s.voice for s in self.segments if s.voice is not None}

    @property
    def has_ipa(self) -> bool:
        return any(s.has_ipa for s in self.segments)

    @property
    def strict_spans(self) -> list[Span]:
        """Spans only an engine that takes phonemes can say (``<phoneme>``)."""
        return [sp for s in self.segments for sp in s.spans if sp.strict]

    def map_segments(self, change: Callable[[Segment], Segment]) -> Document:
        return replace(self, items=tuple(change(i) if isinstance(i, Segment) else i for i in self.items))

    def map_text(self, rewrite: Callable[[str], str]) -> Document:
        """The document with ``rewrite`` applied to every ``text`` span (the normaliser)."""
        return self.map_segments(lambda s: s.map_text(rewrite))


class DocumentBuilder:
    """Collects spans and pauses in order; a change of voice, language or prosody, a pause or a
    paragraph/sentence bound closes the current segment. Segments are trimmed, empty ones dropped,
    one of punctuation only joins the segment before, and adjacent pauses are added up."""

    def __init__(self, collapse: bool = True) -> None:
        self._collapse = collapse
        """XML text: whitespace runs become one space. Plain text keeps its lines (the normaliser reads
        Markdown structure from them)."""
        self._items: list[Item] = []
        self._spans: list[Span] = []
        self._key: tuple[str | None, str | None, Prosody] = (None, None, Prosody())
        self._ignored: dict[str, None] = {}

    def ignore(self, what: str) -> None:
        self._ignored.setdefault(what, None)

    def span(self, span: Span, voice: str | None = None, language: str | None = None,
             prosody: Prosody | None = None) -> None:
        key = (voice, language, prosody or Prosody())
        if key != self._key:
            self.bound()
            self._key = key
        text = span.text
        if self._collapse:
            text = " ".join(span.text.split())
            if span.text[:1].isspace():
                text = " " + text
            if span.text[-1:].isspace() and text.strip():
                text += " "
        if not text:
            return
        if self._spans and text[:1] in _CLOSING_MARKS and self._spans[-1].text.endswith(","):
            last = self._spans[-1]  # "N, A, S, A," then "." -> "N, A, S, A."
            self._spans[-1] = replace(last, text=last.text[:-1])
        self._spans.append(replace(span, text=text))

    def pause(self, seconds: float) -> None:
        self.bound()
        if seconds <= 0:
            return
        if self._items and isinstance(self._items[-1], Pause):
            self._items[-1] = Pause(self._items[-1].seconds + seconds)
        else:
            self._items.append(Pause(seconds))

    def bound(self) -> None:
        """End the current segment (``<p>``, ``<s>``, a voice change)."""
        spans = _trimmed(self._spans)
        self._spans = []
        if not spans:
            return
        if not any(ch.isalnum() for s in spans for ch in s.text):
            # only punctuation (the "." after a </prosody>): it ends the segment before, if one is there
            last = self._items[-1] if self._items else None
            if isinstance(last, Segment):
                self._items[-1] = replace(last, spans=(*last.spans, *spans))
            return
        voice, language, prosody = self._key
        self._items.append(Segment(tuple(spans), voice, language, prosody))

    def build(self, source: str) -> Document:
        self.bound()
        return Document(tuple(self._items), source, tuple(self._ignored))


def _rewrite_core(text: str, rewrite: Callable[[str], str]) -> str:
    """``rewrite`` of the text inside ``text``'s leading and trailing whitespace, which is kept (the space
    between a span and the next one)."""
    core = text.strip()
    if not core:
        return text
    start = text.index(core[0])
    return text[:start] + rewrite(core) + text[start + len(core):]


def _trimmed(spans: Iterable[Span]) -> list[Span]:
    """Spans with single spaces between them, none at the ends, and spans left empty dropped."""
    out: list[Span] = []
    for s in spans:
        text = s.text
        if out and out[-1].text.endswith(" ") and text.startswith(" "):
            text = text[1:]
        if not out:
            text = text.lstrip()
        if text:
            out.append(replace(s, text=text))
    while out and out[-1].text != out[-1].text.rstrip():
        last = out.pop()
        if last.text.strip():
            out.append(replace(last, text=last.text.rstrip()))
    return out if any(s.text.strip() for s in out) else []
