"""SSML, inline forms and pronunciations read into what planning cuts into engine segments.

Each utterance's text is read once (:func:`flashtts.ssml.read`) into a document of segments and
pauses; a bad document is a 400 naming line and column, before anything is synthesised. A segment
becomes a :class:`Part`: its text normalised span by span (a ``<sub>`` alias or an IPA span is never
rewritten), its voice, language and prosody resolved, and the pause heard before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, replace

from flashtts import ssml
from flashtts.config.settings import ServerConfig
from flashtts.engine import CapabilityError, Engine, Piece
from flashtts.errors import APIError
from flashtts.serving.plans import Utterance
from flashtts.serving.voices import Voices
from flashtts.text.languages import speech_language
from flashtts.text.normalize import normalize as normalize_text

SSML_MARKUP = 4
"""An SSML document may be this many times the text limit, markup included (what it says: once)."""
IGNORED_HEADER = "X-SSML-Ignored"
"""Response header listing the markup that was kept as text or not acted on."""


@dataclass(frozen=True)
class Part:
    """One segment of a document, ready to be split and planned."""

    utterance: Utterance
    """The utterance with this segment's voice, language and speed."""
    text: str
    """What a text engine says (normalised)."""
    pieces: tuple[Piece, ...] = ()
    """``text`` cut at IPA pronunciations (set only for engines that take phonemes)."""
    pause_before: float = 0.0
    gain: float = 1.0
    pitch: float = 1.0
    slots: tuple[ssml.WordSlot, ...] = ()
    """Set when a respelling is said for a written word: the engine's word timings are relabelled with it."""


class Markup:
    """Reading a request's text as a document: SSML, inline forms and pronunciations (planning uses it)."""

    def __init__(self, config: ServerConfig, engine: Engine, voices: Voices,
                 lexicon_file: ssml.LexiconFile | None = None) -> None:
        self.config = config
        self.engine = engine
        self.voices = voices
        """For ``<voice name>``: resolved as the ``voice`` field is."""
        self.lexicon_file = lexicon_file
        """The server's pronunciation lexicon (``--lexicon``); a bad file stops the start."""

    def lexicon(self, pronunciations: ssml.Lexicon | None = None,
                role: tuple[ssml.Entry, ...] = ()) -> ssml.Lexicon | None:
        """The server's lexicon (``--lexicon``, read again when its file changed), a role's entries over
        it, then a request's own over those."""
        source = self.lexicon_file
        base = source.current() if source is not None else None
        if not role and not pronunciations:
            return base
        return (base or ssml.Lexicon()).merged(role, pronunciations)

    def read_markup(self, text: str, *, normalize: bool, lexicon: ssml.Lexicon | None, param: str) -> ssml.Document:
        """``text`` as a document; a bad one is a 400 whose message starts with where it is wrong."""
        limit = self.config.limits.max_text_chars
        limits = ssml.Limits(max_chars=SSML_MARKUP * limit)
        try:
            document = ssml.read(text, normalize=normalize, lexicon=lexicon, limits=limits)
        except ssml.SSMLError as exc:
            raise APIError(f"{param}: {exc}", param=param, code=exc.code) from None
        if document.source == "ssml" and len(document.text) > limit:
            raise APIError(f"{param} says {len(document.text)} characters once its markup is read; the limit "
                           f"is {limit}", param=param, code="input_too_long")
        return document

    def markup_parts(self, utt: Utterance, *, normalize: bool, lexicon: ssml.Lexicon | None, param: str,
                     headers: dict[str, str]) -> tuple[int, list[Part | float]]:
        """The characters the utterance says (its markup left out) and its segments as parts, its pauses
        as seconds, in order."""
        if utt.phonemes:
            document = ssml.Document((ssml.Segment((ssml.Span(utt.text, kind="phoneme", ipa=utt.text),)),))
            normalize = False
        else:
            document = self.read_markup(utt.text, normalize=normalize, lexicon=lexicon, param=param)
        said = len(document.text) if document.source == "ssml" else len(utt.text)
        return said, list(self._parts(utt, document, normalize=normalize, param=param, headers=headers))

    async def phonemes_of(self, utt: Utterance, *, normalize: bool, lexicon: ssml.Lexicon | None,
                          param: str = "input") -> str:
        """The phonemes the engine would say for the utterance (its segments joined by a space; pauses left
        out); a 400 on an engine without the ``phonemes`` capability."""
        _, parts = await asyncio.to_thread(self.markup_parts, utt, normalize=normalize, lexicon=lexicon,
                                           param=param, headers={})
        said = []
        for part in parts:
            if isinstance(part, Part) and any(ch.isalnum() for ch in part.text):
                voice = part.utterance.voice
                said.append(await self.engine.phonemize(part.text, voice.voice, part.utterance.language,
                                                        pieces=part.pieces))
        return " ".join(p for p in said if p)

    def _parts(self, utt: Utterance, document: ssml.Document, *, normalize: bool, param: str,
               headers: dict[str, str]) -> Iterator[Part | float]:
        phonemes = self.engine.info.capabilities.phonemes
        ignored = list(document.ignored)
        if document.strict_spans and not phonemes:
            info = self.engine.info
            can = ", ".join(info.capabilities.names()) or "plain synthesis"
            raise CapabilityError(f"engine '{info.name}' ({info.model}) cannot take phonemes (<phoneme> "
                                  f"'{document.strict_spans[0].text[:40]}'); it supports: {can}")
        if document.has_ipa and not phonemes:
            ignored.append("pronunciation-ipa")
        if ignored:
            known = [x for x in headers.get(IGNORED_HEADER, "").split(", ") if x]
            headers[IGNORED_HEADER] = ", ".join(dict.fromkeys(known + ignored))
        pause = 0.0
        for item in document.items:
            if isinstance(item, ssml.Pause):
                pause += item.seconds
                continue
            part = self._part(utt, item, normalize=normalize, phonemes=phonemes, param=param)
            yield replace(part, pause_before=pause)
            pause = 0.0
        if pause:
            yield pause

    def _part(self, utt: Utterance, segment: ssml.Segment, *, normalize: bool, phonemes: bool, param: str) -> Part:
        if segment.voice is not None:
            utt = replace(utt, voice=self.voices.resolve_voice(segment.voice, param))
        if segment.language is not None:
            utt = replace(utt, language=self._engine_language(segment.language) or utt.language)
        if normalize:
            lang = speech_language(self.engine.info, utt.voice.voice, utt.language or utt.voice.language,
                                   segment.text)
            segment = segment.map_text(lambda t: normalize_text(t, lang))
        rate = segment.prosody.rate
        if abs(rate - 1.0) > 1e-6:
            utt = replace(utt, speed=(utt.speed or utt.voice.speed or 1.0) * rate)
        pieces: tuple[Piece, ...] = ()
        if phonemes and segment.has_ipa:
            pieces = tuple(Piece(s.text, s.ipa) for s in segment.spans)
        respelled = any(s.written is not None and (s.ipa is None or not pieces) for s in segment.spans)
        slots = tuple(ssml.word_slots(segment)) if respelled else ()
        return Part(utt, segment.text, pieces, gain=segment.prosody.volume, pitch=segment.prosody.pitch, slots=slots)

    def _engine_language(self, tag: str) -> str | None:
        """The engine's name for a language tag (``en-US`` -> ``en`` when only that is served); ``None``
        when it serves neither."""
        served = {x.lower(): x for x in self.engine.info.languages}
        tag = tag.replace("_", "-").lower()
        for candidate in (tag, tag.split("-")[0]):
            if candidate in served:
                return served[candidate]
        return None
