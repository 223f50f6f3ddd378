"""SSML 1.1 (the subset cloud TTS APIs accept) read into a :class:`~flashtts.ssml.model.Document`.

The XML is read by :func:`~flashtts.ssml.safe_xml.parse_xml` (no DTD, no entities, bounded); this
module gives the elements their meaning. Errors carry the line and column of the element at fault.
See ``docs/ssml.md`` for the table of elements.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from flashtts.ssml import values
from flashtts.ssml.ipa import check_ipa
from flashtts.ssml.limits import Limits, SSMLError
from flashtts.ssml.model import Document, DocumentBuilder, Prosody, Span
from flashtts.ssml.safe_xml import Element, parse_xml
from flashtts.ssml.say_as import say_as

T = TypeVar("T")

BOUNDS = frozenset({"p", "s", "paragraph", "sentence"})
"""Elements whose content is a segment of its own."""
SILENT = frozenset({"mark", "meta", "metadata", "desc", "lexicon", "lookup"})
"""Elements whose content is never spoken (skipped and listed as ignored)."""
TEXT_ONLY = frozenset({"sub", "phoneme", "say-as"})
ALPHABETS = frozenset({"ipa", "x-ipa"})

_ALWAYS_ALLOWED = frozenset({"xml:lang", "xml:base", "xml:id", "id", "version", "xmlns"})
_KNOWN_ATTRIBUTES = {
    "speak": frozenset(), "p": frozenset(), "s": frozenset(), "paragraph": frozenset(), "sentence": frozenset(),
    "break": frozenset({"time", "strength"}),
    "say-as": frozenset({"interpret-as", "format", "detail"}),
    "sub": frozenset({"alias"}),
    "phoneme": frozenset({"ph", "alphabet"}),
    "prosody": frozenset({"rate", "pitch", "volume"}),
    "voice": frozenset({"name"}),
    "lang": frozenset(),
}

_SPEAK_PREFIXES = ("<speak", "<?xml", "<!doctype", "<!--")


def is_ssml(text: str) -> bool:
    """True when ``text`` is meant as an SSML document: it starts (after a BOM and whitespace) with
    ``<speak``, an XML declaration, a DOCTYPE or a comment. Such text is parsed, never spoken as is."""
    head = text.lstrip("\ufeff \t\r\n")[:10].lower()
    return head.startswith(_SPEAK_PREFIXES) and (not head.startswith("<speak") or head[6:7] in (" ", ">", "/", "\t",
                                                                                               "\n", "\r", ""))


@dataclass(frozen=True)
class _State:
    voice: str | None = None
    language: str | None = None
    prosody: Prosody = field(default_factory=Prosody)


class _Reader:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.out = DocumentBuilder()
        self.paused = 0.0

    # ---- helpers ----------------------------------------------------------------------------
    @staticmethod
    def error(element: Element, message: str, code: str = "invalid_ssml") -> SSMLError:
        return SSMLError(f"<{element.tag}>: {message}", line=element.line, column=element.column, code=code)

    def value(self, element: Element, name: str, read: Callable[[str], T]) -> T:
        """``read(attribute)``, its ValueError turned into an error at the element."""
        try:
            return read(element.attrs[name])
        except ValueError as exc:
            raise self.error(element, f"{name}: {exc}") from None

    def note_attributes(self, element: Element) -> None:
        known = _KNOWN_ATTRIBUTES.get(element.tag, frozenset())
        for name in element.attrs:
            if name not in known and name not in _ALWAYS_ALLOWED and not name.startswith("xmlns:"):
                self.out.ignore(f"{element.tag}@{name}")

    def text(self, state: _State, span: Span) -> None:
        self.out.span(span, state.voice, state.language, state.prosody)

    # ---- elements ---------------------------------------------------------------------------
    def read(self, root: Element) -> Document:
        if root.tag != "speak":
            raise self.error(root, "the root element of an SSML document must be <speak>", "ssml_not_speak")
        self.element(root, _State())
        return self.out.build("ssml")

    def children(self, element: Element, state: _State) -> None:
        for child in element.children:
            if isinstance(child, str):
                self.text(state, Span(child))
            else:
                self.element(child, state)

    def element(self, element: Element, state: _State) -> None:
        tag = element.tag
        if "xml:lang" in element.attrs:
            state = replace(state, language=self.value(element, "xml:lang", values.language))
        if tag in _KNOWN_ATTRIBUTES:
            self.note_attributes(element)
        if tag in TEXT_ONLY:
            nested = next((c for c in element.children if not isinstance(c, str)), None)
            if nested is not None:
                raise self.error(nested, f"<{tag}> holds text only")
        if tag in BOUNDS:
            self.out.bound()
            self.children(element, state)
            self.out.bound()
        elif tag == "break":
            self.pause(element)
        elif tag == "say-as":
            self.say_as(element, state)
        elif tag == "sub":
            if "alias" not in element.attrs:
                raise self.error(element, "the alias attribute is missing")
            self.text(state, Span(" ".join(element.attrs["alias"].split()), kind="sub"))
        elif tag == "phoneme":
            self.phoneme(element, state)
        elif tag == "prosody":
            self.children(element, replace(state, prosody=self.prosody(element, state.prosody)))
        elif tag == "voice":
            name = element.attrs.get("name", "").strip()
            self.out.bound()
            self.children(element, replace(state, voice=name) if name else state)
            self.out.bound()
        elif tag in ("speak", "lang"):
            if tag == "lang" and "xml:lang" not in element.attrs:
                raise self.error(element, "the xml:lang attribute is missing")
            self.children(element, state)
        elif tag in SILENT:
            self.out.ignore(tag)
        else:  # emphasis, audio, vendor elements: their text is said as written
            self.out.ignore(tag)
            self.children(element, state)

    def pause(self, element: Element) -> None:
        if element.children:
            raise self.error(element, "<break> is empty (write <break time=\"500ms\"/>)")
        if "time" in element.attrs:
            seconds = self.value(element, "time", values.seconds)
        elif "strength" in element.attrs:
            seconds = self.value(element, "strength", values.strength)
        else:
            seconds = values.BREAK_STRENGTHS["medium"]
        if seconds > self.limits.max_break:
            raise self.error(element, f"a break of {seconds:g} s is longer than the {self.limits.max_break:g} s "
                             "limit", "ssml_break_too_long")
        self.paused += seconds
        if self.paused > self.limits.max_pause_total:
            raise self.error(element, f"breaks add up to more than {self.limits.max_pause_total:g} s",
                             "ssml_break_too_long")
        self.out.pause(seconds)

    def say_as(self, element: Element, state: _State) -> None:
        kind = element.attrs.get("interpret-as")
        if kind is None:
            raise self.error(element, "the interpret-as attribute is missing")
        written = element.text()
        spoken = say_as(written, kind, element.attrs.get("format"), state.language)
        if spoken is None:
            self.out.ignore(f"say-as@interpret-as={kind.strip().lower()[:20]}")
            self.text(state, Span(written))
        else:
            self.text(state, Span(spoken, kind="say-as"))

    def phoneme(self, element: Element, state: _State) -> None:
        if "ph" not in element.attrs:
            raise self.error(element, "the ph attribute is missing")
        alphabet = element.attrs.get("alphabet", "ipa").strip().lower()
        if alphabet not in ALPHABETS:
            raise self.error(element, f"alphabet '{alphabet[:20]}' is not supported; write the pronunciation in "
                             "IPA (alphabet=\"ipa\")", "ssml_unsupported_alphabet")
        ipa = self.value(element, "ph", check_ipa)
        written = " ".join(element.text().split())
        self.text(state, Span(written, kind="phoneme", ipa=ipa))

    def prosody(self, element: Element, outer: Prosody) -> Prosody:
        prosody = outer
        try:
            if "rate" in element.attrs:
                prosody = replace(prosody, rate=prosody.rate * values.rate(element.attrs["rate"]))
                values.check_range("rate", prosody.rate, *values.RATE_RANGE)
            if "pitch" in element.attrs:
                factor = values.pitch(element.attrs["pitch"])
                if factor is None:
                    self.out.ignore("prosody@pitch=Hz")
                else:
                    prosody = replace(prosody, pitch=prosody.pitch * factor)
                    values.check_range("pitch", prosody.pitch, *values.PITCH_RANGE)
            if "volume" in element.attrs:
                prosody = replace(prosody, volume=prosody.volume * values.volume(element.attrs["volume"]))
                values.check_range("volume", prosody.volume, 0.0, 10.0 ** (values.MAX_GAIN_DB / 20.0))
        except ValueError as exc:
            raise self.error(element, str(exc)) from None
        return prosody


def parse_ssml(text: str, limits: Limits | None = None) -> Document:
    """The document model of an SSML document; :class:`SSMLError` (line, column, code) when it is
    malformed, hostile, or asks for more than ``limits`` allow."""
    limits = limits or Limits()
    return _Reader(limits).read(parse_xml(text, limits))
