"""Live speech: text that arrives in pieces, spoken segment by segment, in order, through the SpeechService.

Shared by the Wyoming server's streaming synthesis and the WebSocket route. A session holds an
admission slot (the same limit as any HTTP request) only while it has text to speak: the slot is
taken when text arrives and given back once all of it was spoken, so sessions waiting for text
never shut out other requests (their number is bounded by :mod:`flashtts.serving.sessions`). A
session with no text for ``--live_idle_timeout`` seconds, nothing left to speak, ends with
``idle_timeout``. Each complete segment becomes one plan of the serving layer, so deadlines,
aborts, metrics and the request log are those of the HTTP routes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass

import numpy as np

from flashtts.engine import GenerationOptions, WordTiming
from flashtts.errors import APIError, IdleTimeoutError
from flashtts.serving import Plan, SpeechService, Ticket, Utterance, VoiceChoice
from flashtts.serving.admission import QueueFullError
from flashtts.ssml import is_ssml
from flashtts.text.characters import check_value
from flashtts.text.sentences import SentenceCutter


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

    def __init__(self, service: SpeechService, route: str, options: LiveOptions, client: str | None = None,
                 cutter: SentenceCutter | None = None, ticket: Ticket | None = None) -> None:
        self.service = service
        self.route = route
        self.options = options
        self.client = client
        """Who speaks, for the per-client limits (API key, else address)."""
        self.cutter = cutter or SentenceCutter()
        self.characters = 0
        self.audio_seconds = 0.0
        self._ticket = ticket
        self._counted = ticket is not None
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._ended = False
        self._planned = 0
        self._abort_counted = False
        self._active_at = time.monotonic()
        """When the session last had text or audio: its idle time counts from here."""
        self._document: list[str] | None = None
        """An SSML document being sent (the session's text started with ``<speak``): spoken whole at the end,
        never cut into sentences (a piece of XML is not a document)."""

    @classmethod
    def open(cls, service: SpeechService, route: str, options: LiveOptions, client: str | None = None,
             cutter: SentenceCutter | None = None) -> LiveSpeech:
        """A session for text still being written: the options are checked now (a 400 rather than at the
        first sentence); a slot is taken only when text comes (429 then when the server is full).

        ``client`` names who is speaking for the per-client limit (None: only the server's)."""
        cls._check(service, route, options)
        return cls(service, route, options, client, cutter)

    @classmethod
    def request(cls, service: SpeechService, route: str, options: LiveOptions, text: str,
                client: str | None = None) -> LiveSpeech:
        """All the text at once, as one request: checked and admitted now (429 when full), then ended."""
        cls._check(service, route, options)
        live = cls(service, route, options, client, ticket=service.execution.admit(client))
        try:
            live.say(text)
        except BaseException:
            live.close()
            raise
        return live

    @classmethod
    async def check_document(cls, service: SpeechService, route: str, options: LiveOptions, text: str) -> None:
        """An SSML document planned once before anything is sent (its markup, voices and pauses checked), so
        a bad one is refused before the answer opens; plain text needs no such check."""
        if is_ssml(text):
            await service.planning.plan(route, [cls._utterance(options, text)], response_format="pcm",
                                        options=options.options, timestamps=options.timestamps)

    @classmethod
    def _check(cls, service: SpeechService, route: str, options: LiveOptions) -> None:
        service.planning.plan_now(route, [cls._utterance(options, "check")], response_format="pcm",
                                  options=options.options, timestamps=options.timestamps)

    @staticmethod
    def _utterance(options: LiveOptions, text: str) -> Utterance:
        return Utterance(text, options.voice, instructions=options.instructions, speed=options.speed,
                         language=options.language)

    def add(self, piece: str) -> None:
        """More text; complete segments are queued for speaking at once."""
        if self._ended:
            raise APIError("text after the end of the stream", param="text", code="stream_ended")
        check_value(piece, "text")  # control characters, lone surrogates: as on every HTTP route
        self.characters += len(piece)
        self.service.planning.check_length(self.characters, "text")  # the session's text in all, as one request's
        if piece:  # only text keeps a session alive (empty pieces would hold it open forever)
            self._active_at = time.monotonic()
        if self._document is None and piece.strip() and self.characters == len(piece) and is_ssml(piece):
            self._document = []
        if self._document is not None:
            self._document.append(piece)
            return
        for segment in self.cutter.feed(piece):
            self._queue.put_nowait(segment)

    def say(self, text: str) -> None:
        """All the text at once, as one segment (the serving layer cuts long texts itself), then the end."""
        check_value(text, "text")
        self.characters += len(text)
        self._queue.put_nowait(text)
        self.end()

    def flush(self) -> None:
        """Speak what is pending now, complete or not (an SSML document: only once it has ended)."""
        if self._document is not None:
            return
        for segment in self.cutter.flush():
            self._queue.put_nowait(segment)

    def end(self) -> None:
        """No more text: speak the rest, then :meth:`events` ends."""
        if not self._ended:
            self.flush()
            if self._document:
                self._queue.put_nowait("".join(self._document))
            self._ended = True
            self._queue.put_nowait(None)

    def close(self) -> None:
        """Free the session's slot, if it holds one (idempotent)."""
        self._release()

    async def _hold(self) -> None:
        """Hold a slot while there is text to speak. The session's first text gets 429 at once when the
        server (or this client) is at its limit, as any request; a session already under way waits for
        a slot instead (up to ``--live_idle_timeout``), so other traffic does not cut it mid-answer."""
        if self._ticket is not None:
            return
        deadline = time.monotonic() + self.service.config.limits.live_idle_timeout
        while True:
            try:
                # the session counts once
                self._ticket = self.service.execution.admit(self.client, count=not self._counted)
                break
            except QueueFullError:
                if not self._counted or time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.05)
        self._counted = True

    def _release(self) -> None:
        ticket, self._ticket = self._ticket, None
        if ticket is not None:
            ticket.release()

    async def _next_text(self) -> str | None:
        """The next segment (None: the end); ``idle_timeout`` after ``--live_idle_timeout`` s without text."""
        idle = self.service.config.limits.live_idle_timeout
        while True:
            left = self._active_at + idle - time.monotonic()
            if left <= 0 and self._queue.empty():
                self.service.metrics.inc("live_sessions_idle_timeout_total")
                raise IdleTimeoutError(f"no text for {idle:g} s", code="idle_timeout")
            try:
                return await asyncio.wait_for(self._queue.get(), max(left, 0.001))
            except asyncio.TimeoutError:
                continue  # text may have come without completing a segment: the loop looks again

    async def events(self) -> AsyncGenerator[LiveEvent, None]:
        """Segment starts, float32 audio chunks at the engine's rate, word timings and segment ends, in order.

        A session closed before its end counts once in ``requests_aborted_total``, wherever it stopped.
        """
        try:
            while True:
                if self._queue.empty():
                    self._release()  # nothing to speak: the slot goes back while the session waits for text
                text = await self._next_text()
                if text is None:
                    return
                try:
                    plan = await self.service.planning.plan(self.route, [self._utterance(self.options, text)],
                                                   response_format="pcm", options=self.options.options, stream=True,
                                                   timestamps=self.options.timestamps, opening=self._planned == 0)
                except APIError as exc:
                    if exc.code == "empty_input":
                        continue  # a piece of only emoji or punctuation ("🙂", "..."): nothing to say, go on
                    raise
                await self._hold()
                index = self._planned
                self._planned += 1
                yield SegmentStart(index, text)
                async with aclosing(self._speak(plan)) as events:
                    async for event in events:
                        yield event
                yield SegmentEnd(index, plan.audio_seconds)
                self._active_at = time.monotonic()  # idle from the end of the last audio
        except (GeneratorExit, asyncio.CancelledError):  # closed early: the client went away
            if not self._abort_counted:
                self.service.metrics.inc("requests_aborted_total")
            raise
        finally:
            self._release()

    async def _speak(self, plan: Plan) -> AsyncGenerator[LiveEvent, None]:
        """One segment's audio and word timings, finished once by the lifecycle (the session's ticket
        is held across segments, so no slot is freed here)."""
        offset = self.audio_seconds
        try:
            async with aclosing(self.service.lifecycle.guarded(plan, self._audio(plan, offset))) as events:
                async for event in events:
                    yield event
        finally:
            self.audio_seconds = offset + plan.audio_seconds
            self._abort_counted |= plan.status in ("aborted", "disconnected", "timeout")  # samples() counted it

    async def _audio(self, plan: Plan, offset: float) -> AsyncGenerator[LiveEvent, None]:
        sent = 0
        async with aclosing(self.service.execution.samples(plan)) as chunks:
            async for chunk in chunks:
                yield chunk
                if len(plan.words) > sent:
                    yield Words(tuple(w.shifted(offset) for w in plan.words[sent:]))
                    sent = len(plan.words)
