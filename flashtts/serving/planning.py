"""Planning: every check before a byte is sent, and the text cut into engine segments."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from flashtts import audio
from flashtts.config.settings import ServerConfig
from flashtts.engine import Engine, EngineInfo, GenerationOptions, SynthesisRequest
from flashtts.errors import APIError
from flashtts.serving.markup import SSML_MARKUP, Markup
from flashtts.serving.plans import Caller, Plan, Utterance, new_request_id
from flashtts.ssml import Lexicon, WordSlot, is_ssml
from flashtts.text.languages import voice_language_codes
from flashtts.text.scripts import readable_scripts, unreadable_script
from flashtts.text.sentences import parse_dialogue, split_text

SPOKEN_EXPANSION = 4
"""Normalised text (numbers, symbols and links spelled out) may be at most this many times the text limit:
a number-only input cannot turn one request into many times the longest allowed speech."""


def check_script(info: EngineInfo, voice: str | None, text: str, param: str = "input") -> None:
    """400 naming the language when ``text`` is mostly in a script the voice cannot read (no language given)."""
    codes = voice_language_codes(info, voice)
    readable = readable_scripts([c for c in codes if c]) if codes and all(codes) else None
    if readable is None:
        return
    mismatch = unreadable_script(text, readable)
    if mismatch is None:
        return
    who = f"voice '{voice}'" if voice else f"engine '{info.name}'"
    raise APIError(f"{param} looks like {mismatch.language_name} ({mismatch.script} script), which {who} cannot "
                   f"speak; it speaks: {', '.join(sorted({c for c in codes if c}))}", param=param,
                   code="unsupported_language")


class Planning:
    """Requests checked and segmented (:meth:`plan`), on a worker thread."""

    def __init__(self, config: ServerConfig, engine: Engine, markup: Markup) -> None:
        self.config = config
        self.engine = engine
        self.markup = markup
        """SSML, inline forms and pronunciations read into parts."""

    def check_text(self, text: str, param: str = "input") -> None:
        """400 for text that is blank or over the length limit (an SSML document may hold 4x the limit
        in markup; what it says is checked when it is read)."""
        if not text or not text.strip():
            raise APIError(f"{param} is empty", param=param, code="empty_input")
        self.check_length(len(text), param, markup=is_ssml(text))

    def check_format(self, response_format: str) -> None:
        if response_format not in audio.FORMATS:
            raise APIError(f"unknown response_format '{response_format}'", param="response_format")

    def check_length(self, chars: int, param: str = "input", *, markup: bool = False) -> None:
        """The one text-length check: 400 ``input_too_long`` past ``--max_text_chars`` (``markup``: an SSML
        document, which may hold :data:`SSML_MARKUP` times that)."""
        limit = self.config.limits.max_text_chars * (SSML_MARKUP if markup else 1)
        if chars > limit:
            raise APIError(f"{param} is {chars} characters; the limit is {limit}", param=param,
                           code="input_too_long")

    async def plan(self, route: str, utterances: list[Utterance], **kwargs) -> Plan:
        """:meth:`plan_now` on a worker thread: splitting and checking a long text never holds the loop."""
        return await asyncio.to_thread(self.plan_now, route, utterances, **kwargs)

    def plan_now(
        self,
        route: str,
        utterances: list[Utterance],
        *,
        response_format: str,
        options: GenerationOptions,
        length_threshold: int | None = None,
        window_size: int | None = None,
        stream: bool = False,
        opening: bool = True,
        timestamps: bool = False,
        text_param: str = "input",
        optional_instructions: bool = False,
        normalize: bool = True,
        caller: Caller | None = None,
        pronunciations: Lexicon | None = None,
    ) -> Plan:
        """Validate and segment; raises APIError/CapabilityError before anything is sent.

        ``optional_instructions``: the API treats instructions as a hint (OpenAI's), so an engine that
        cannot follow them ignores them (see :meth:`_without_unfollowable_instructions`).
        ``normalize``: text is read as a person would (:mod:`flashtts.text.normalize`), inline forms too.
        ``pronunciations``: the request's lexicon entries, over the server's (:mod:`flashtts.serving.markup`).
        ``caller``: the request id and client the edge gives (a fresh id when it gives none).
        ``opening``: the plan opens its answer (False for a live session's later segments, whose listener
        already hears audio): its first segment may then start with a small chunk.
        """
        self.check_format(response_format)
        self.check_length(sum(len(u.text) for u in utterances), text_param,
                          markup=any(is_ssml(u.text) for u in utterances))
        caller = caller or Caller()
        request_id = caller.request_id or new_request_id()
        job_id = new_request_id()  # engine ids stay unique even when clients reuse an X-Request-Id
        threshold = length_threshold or self.config.length_threshold
        window = window_size or self.config.window_size
        segments: list[SynthesisRequest] = []
        total_chars = spoken_chars = 0
        first = utterances[0]
        speed = first.speed or first.voice.speed or 1.0
        pitch = first.pitch or 1.0
        headers: dict[str, str] = {}
        labels: list[str] = []
        relabel: dict[str, tuple[WordSlot, ...]] = {}
        pause = 0.0
        for utt in utterances:
            if not (utt.language or utt.voice.language):
                check_script(self.engine.info, utt.voice.voice, utt.text, text_param)
            if optional_instructions:
                utt = self._without_unfollowable_instructions(utt, headers)
            lexicon = self.markup.lexicon(pronunciations, utt.voice.lexicon)
            said_chars, parts = self.markup.markup_parts(utt, normalize=normalize, lexicon=lexicon, param=text_param,
                                                  headers=headers)
            total_chars += said_chars
            for part in parts:
                if isinstance(part, float):
                    pause += part
                    continue
                pause += part.pause_before
                spoken_chars += len(part.text)
                self._check_spoken_length(spoken_chars, text_param)
                if not any(ch.isalnum() for ch in part.text):
                    continue  # only punctuation or symbols: no engine says anything for it
                said = part.utterance
                labels.append(said.voice.label)
                whole = part.pieces or (timestamps and part.slots)  # IPA, or words to relabel: one engine call
                texts = [part.text] if whole else split_text(part.text, threshold, window)
                for piece in texts:
                    seg = SynthesisRequest(
                        request_id=f"{job_id}-{len(segments)}",
                        text=piece,
                        voice=said.voice.voice,
                        mix=said.voice.mix,
                        reference=said.voice.reference,
                        instructions=said.instructions or said.voice.instructions,
                        language=(said.language or said.voice.language or "auto"),
                        speed=said.speed or said.voice.speed or 1.0,
                        options=options,
                        stream=stream,
                        opening=opening and not segments,
                        timestamps=timestamps,
                        pieces=part.pieces,
                        pause_before=pause,
                        gain=part.gain,
                        pitch=part.pitch,
                    )
                    pause = 0.0
                    self._drop_unsupported_role_defaults(seg, said)
                    self.engine.validate(seg)
                    segments.append(seg)
                    if timestamps and part.slots:
                        relabel[seg.request_id] = part.slots
        if not segments:
            raise APIError(f"{text_param}: nothing to speak: no letters or digits once markup, emoji and symbols "
                           "are left out", param=text_param, code="empty_input")
        self.check_length(total_chars, text_param)  # what a document says, its markup left out
        return Plan(request_id, route, segments, response_format, speed, pitch, ", ".join(dict.fromkeys(labels)),
                    total_chars, headers=headers, pause_after=pause, word_slots=relabel, client=caller.client)

    def _check_spoken_length(self, spoken_chars: int, param: str) -> None:
        most = SPOKEN_EXPANSION * self.config.limits.max_text_chars
        if spoken_chars > most:
            raise APIError(f"{param} reads as more than {most} characters once numbers, symbols and links are "
                           f"spelled out (the limit is {SPOKEN_EXPANSION}x the {self.config.limits.max_text_chars}-"
                           "character text limit); send less text or normalize: false",
                           param=param, code="input_too_long")

    def _without_unfollowable_instructions(self, utt: Utterance, headers: dict[str, str]) -> Utterance:
        """Instructions the engine cannot follow are a hint it ignores (as OpenAI's tts-1 does), noted in
        ``X-Instructions-Ignored``; ``--strict_instructions`` keeps them, so the engine's check refuses them."""
        caps = self.engine.info.capabilities
        if not utt.instructions or caps.follows_instructions or self.config.strict_instructions:
            return utt
        headers["X-Instructions-Ignored"] = "true"
        return replace(utt, instructions=None)

    def _drop_unsupported_role_defaults(self, seg: SynthesisRequest, utt: Utterance) -> None:
        """A role's stored instructions/language are preferences: drop them where the engine lacks them."""
        caps = self.engine.info.capabilities
        if not utt.instructions and seg.instructions and not caps.follows_instructions:
            seg.instructions = None
        if not utt.language and seg.language.lower() not in {x.lower() for x in self.engine.info.languages}:
            seg.language = "auto"

    def dialogue(self, text: str) -> list[tuple[str, str]]:
        try:
            return [(t.role, t.text) for t in parse_dialogue(text)]
        except ValueError as exc:
            raise APIError(f"text: {exc}", param="text", code="invalid_dialogue") from None
