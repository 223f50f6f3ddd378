"""Live speech: text that arrives in pieces, spoken segment by segment, in order, through the SpeechService.

Shared by the Wyoming server's streaming synthesis and the WebSocket route. A session holds one
admission slot from start to end (the same limit as any HTTP request); each complete segment
becomes one plan of the serving layer, so deadlines, aborts, metrics and the request log are
those of the HTTP routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass

import numpy as np

from flashtts.engine import GenerationOptions, WordTiming
from flashtts.errors import APIError
from flashtts.live_text import SentenceCutter
from flashtts.serving import Plan, SpeechService, Ticket, Utterance, VoiceChoice
from flashtts.validation import check_value


@dataclass(frozen=True)
class SegmentStart:
    """A segment's audio follows (``index`` counts from 0)."""

    index: int
    text: str


@dataclass(frozen=True)
class SegmentEnd:
    index: int
    audio_seconds: float


@dataclass(frozen=True)
class Words:
    """Word timings, in seconds from the start of the session's audio."""

    words: tuple[WordTiming, ...]


LiveEvent = SegmentStart | np.ndarray | Words | SegmentEnd


@dataclass(frozen=True)
class LiveOptions:
    """How a session speaks: voice and the request's own overrides."""

    voice: VoiceChoice
    instructions: str | None = None
    speed: float | None = None
    language: str | None = None
    options: GenerationOptions = GenerationOptions()
    timestamps: bool = False


class LiveSpeech:
    """One session: ``add`` text pieces, ``flush``/``end``; iterate :meth:`events` for the audio."""

    def __init__(self, service: SpeechService, route: str, options: LiveOptions, ticket: Ticket,
                 cutter: SentenceCutter | None = None) -> None:
        self.service = service
        self.route = route
        self.options = options
        self.ticket = ticket
        self.cutter = cutter or SentenceCutter()
        self.characters = 0
        self.audio_seconds = 0.0
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._ended = False
        self._planned = 0
        self._abort_counted = False

    @classmethod
    def open(cls, service: SpeechService, route: str, options: LiveOptions, client: str | None = None,
             cutter: SentenceCutter | None = None) -> LiveSpeech:
        """Check the options (a 400 now rather than at the first sentence), then take a slot (429 when full).

        ``client`` names who is speaking for the per-client limit (default: the HTTP client)."""
        service.plan_now(route, [cls._utterance(options, "check")], response_format="pcm", options=options.options,
                         timestamps=options.timestamps)
        return cls(service, route, options, service.admit(client), cutter)

    @staticmethod
    def _utterance(options: LiveOptions, text: str) -> Utterance:
        return Utterance(text, options.voice, instructions=options.instructions, speed=options.speed,
                         language=options.language)

    def add(self, piece: str) -> None:
        """More text; complete segments are queued for speaking at once."""
        if self._ended:
            raise APIError("text after the end of the stream", param="text", code="stream_ended")
        check_value(piece, "text")  # control characters, lone surrogates: as on every HTTP route
        limit = self.service.config.limits.max_text_chars
        self.characters += len(piece)
        if self.characters > limit:
            raise APIError(f"text is {self.characters} characters; the limit is {limit}", param="text",
                           code="input_too_long")
        for segment in self.cutter.feed(piece):
            self._queue.put_nowait(segment)

    def say(self, text: str) -> None:
        """All the text at once, as one segment (the serving layer cuts long texts itself), then the end."""
        check_value(text, "text")
        self.characters += len(text)
        self._queue.put_nowait(text)
        self.end()

    def flush(self) -> None:
        """Speak what is pending now, complete or not."""
        for segment in self.cutter.flush():
            self._queue.put_nowait(segment)

    def end(self) -> None:
        """No more text: speak the rest, then :meth:`events` ends."""
        if not self._ended:
            self.flush()
            self._ended = True
            self._queue.put_nowait(None)

    def close(self) -> None:
        """Free the session's slot (idempotent)."""
        self.ticket.release()

    async def events(self) -> AsyncGenerator[LiveEvent, None]:
        """Segment starts, float32 audio chunks at the engine's rate, word timings and segment ends, in order.

        A session closed before its end counts once in ``requests_aborted_total``, wherever it stopped.
        """
        try:
            idle = self.service.config.request_timeout
            while True:
                try:  # a session waiting for text holds a slot: not for longer than a request may take
                    text = await asyncio.wait_for(self._queue.get(), idle)
                except asyncio.TimeoutError:
                    raise APIError(f"no text for {idle:g} s", status=408, code="idle_timeout") from None
                if text is None:
                    return
                try:
                    plan = await self.service.plan(self.route, [self._utterance(self.options, text)],
                                                   response_format="pcm", options=self.options.options, stream=True,
                                                   timestamps=self.options.timestamps, opening=self._planned == 0)
                except APIError as exc:
                    if exc.code == "empty_input":
                        continue  # a piece of only emoji or punctuation ("🙂", "..."): nothing to say, go on
                    raise
                index = self._planned
                self._planned += 1
                yield SegmentStart(index, text)
                async with aclosing(self._speak(plan)) as events:
                    async for event in events:
                        yield event
                yield SegmentEnd(index, plan.audio_seconds)
        except (GeneratorExit, asyncio.CancelledError):  # closed early: the client went away
            if not self._abort_counted:
                self.service.metrics.inc("requests_aborted_total")
            raise

    async def _speak(self, plan: Plan) -> AsyncGenerator[LiveEvent, None]:
        offset, sent = self.audio_seconds, 0
        error: BaseException | None = None
        try:
            async with aclosing(self.service.samples(plan)) as chunks:
                async for chunk in chunks:
                    yield chunk
                    if len(plan.words) > sent:
                        yield Words(tuple(w.shifted(offset) for w in plan.words[sent:]))
                        sent = len(plan.words)
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.audio_seconds = offset + plan.audio_seconds
            self._abort_counted |= plan.status in ("aborted", "disconnected", "timeout")  # samples() counted it
            self.service.finish(plan, error if isinstance(error, Exception) else None)
