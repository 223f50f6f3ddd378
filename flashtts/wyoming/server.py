"""A Wyoming server (Home Assistant's voice protocol) beside HTTP, on the same event loop and SpeechService.

``describe`` -> ``info`` with one TTS program whose voices are the engine's built-in voices and
the roles; ``synthesize`` -> ``audio-start`` / ``audio-chunk``s / ``audio-stop`` (16-bit mono PCM
at the engine's rate); the streaming form (``synthesize-start``, ``synthesize-chunk``s,
``synthesize-stop``) speaks each sentence as soon as it is complete, each with its own
audio-start/stop, and ends with ``synthesize-stopped``. Every failure is answered with an
``error`` event (a field of the wrong type: ``invalid_event`` naming it); a client that leaves or
resets its connection ends its handler quietly (one INFO line). Wyoming has no authentication:
listen on loopback or a trusted network.

A ``synthesize-start`` stream is a live session (:mod:`flashtts.serving.sessions`): bounded by
``--max_live_sessions`` and ``--max_live_sessions_per_client`` (the client is its address),
ended with ``idle_timeout`` after ``--live_idle_timeout`` s without text, and holding an
admission slot only while it has text to speak. On shutdown (:mod:`flashtts.serving.shutdown`) the
listener closes, idle connections are closed, and new syntheses get ``shutting_down``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing

import numpy as np
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped, SynthesizeVoice

from flashtts import __version__
from flashtts.audio import pcm16
from flashtts.config.settings import ServerConfig
from flashtts.errors import SERVER_FAULTS, APIError, UnavailableError
from flashtts.serving import SpeechService
from flashtts.serving.errors import to_api_error
from flashtts.serving.live import LiveOptions, LiveSpeech, SegmentEnd, SegmentStart
from flashtts.serving.sessions import SessionPlace
from flashtts.serving.shutdown import Drain
from flashtts.wyoming.events import (
    MAX_HEADER_BYTES,
    SlowClientError,
    WyomingFieldError,
    WyomingProtocolError,
    check_fields,
    read_event,
    write_event,
)

log = logging.getLogger(__name__)

ROUTE = "wyoming"
CHUNK_SAMPLES = 2048
"""Samples per ``audio-chunk`` event."""
ATTRIBUTION = Attribution(name="flashtts", url="https://github.com/flashtts/flashtts")


ERROR_CODES: dict[str, str | None] = {
    "invalid_request": "invalid_request", "not_found": "not_found", "conflict": "conflict", "too_large": "too_large",
    "unauthenticated": "unauthenticated", "forbidden": "forbidden", "busy": "busy", "timeout": "timeout",
    "idle_timeout": "idle_timeout", "unavailable": "unavailable", "storage_failed": "storage_failed",
    "internal": "internal_error",
    "client_gone": None,  # nothing is sent: the client is gone
}
"""Each kind of :class:`~flashtts.errors.APIError` as the code of Wyoming's ``error`` event, when the error
names no code of its own."""


def describe(service: SpeechService) -> Info:
    """The ``info`` answer: one TTS program listing built-in voices and roles."""
    info = service.engine.info
    languages = [lang for lang in info.languages if lang != "auto"] or ["en"]
    voices = [TtsVoice(name=v.id, attribution=ATTRIBUTION, installed=True, description=v.description or v.name,
                       version=None, languages=[v.locale or v.language] if v.language else languages)
              for v in info.voices]
    for role in service.registry.list():
        voices.append(TtsVoice(name=role.name, attribution=ATTRIBUTION, installed=True,
                               description=role.description or f"role ({role.voice or 'reference clip'})",
                               version=None, languages=[role.language] if role.language else languages))
    program = TtsProgram(name="flashtts", attribution=ATTRIBUTION, installed=True,
                         description=f"flashtts: {info.name} engine ({info.model})", version=__version__,
                         voices=voices, supports_synthesize_streaming=True)
    return Info(tts=[program])


class WyomingHandler(AsyncEventHandler):
    """One Wyoming connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: SpeechService,
                 drain: Drain | None = None) -> None:
        super().__init__(reader, writer)
        self.service = service
        self.drain = drain
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "?"
        self.client = f"addr:{peer[0]}" if isinstance(peer, tuple) and peer else None
        """The client for the per-client limits: its address, as an HTTP client without an API key."""
        self._live: LiveSpeech | None = None
        self._place: SessionPlace | None = None
        self._speaker: asyncio.Task | None = None
        self._synthesizing = False

    @property
    def busy(self) -> bool:
        """A synthesis or a stream is under way (shutdown waits for it)."""
        return self._synthesizing or self._live is not None

    async def run(self) -> None:
        """Receive events until the client leaves; bounded reads (:mod:`flashtts.wyoming.events`), and a
        framing or size breach is answered with an ``error`` event, then the connection is closed."""
        try:
            while True:
                try:
                    event = await read_event(self.reader)
                except WyomingProtocolError as exc:
                    await self._error(APIError(str(exc), code="invalid_event"))
                    break
                if event is None or not await self.handle_event(event):
                    break
                if self._draining() and not self.busy:
                    break  # shutting down: this connection's work is done
        except SlowClientError as exc:
            log.warning("wyoming client %s: %s; connection closed", self.peer, exc)
        except ConnectionError as exc:  # reset, broken pipe: the client is gone
            log.info("wyoming client %s left: %s", self.peer, exc.strerror or type(exc).__name__)
        finally:
            await self.disconnect()
            self.writer.close()

    def _draining(self) -> bool:
        return self.drain is not None and self.drain.draining

    async def write_event(self, event: Event) -> None:
        await write_event(event, self.writer, self.service.config.limits.send_timeout)

    async def handle_event(self, event: Event) -> bool:
        try:
            return await self._handle(check_fields(event))
        except ConnectionError:
            raise  # the client is gone: run() ends quietly
        except WyomingFieldError as exc:
            await self._error(APIError(str(exc), param=exc.field, code="invalid_event"))
            return True
        except Exception as exc:  # every failure answers an error event, then the connection goes on
            await self._error(exc)
            return True

    async def _handle(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event((await asyncio.to_thread(describe, self.service)).event())
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
        elif SynthesizeStart.is_type(event.type):
            if self._live is not None:  # a new stream ends the previous one
                self._live.end()
            await self._end_stream()
            self._refuse_when_draining()
            self._start_stream(SynthesizeStart.from_event(event).voice)
        elif SynthesizeChunk.is_type(event.type):
            if self._live is None:
                raise APIError("synthesize-chunk without synthesize-start", code="no_stream")
            self._live.add(SynthesizeChunk.from_event(event).text)
        elif SynthesizeStop.is_type(event.type):
            if self._live is None:
                raise APIError("synthesize-stop without synthesize-start", code="no_stream")
            self._live.end()
            await self._end_stream()
            await self.write_event(SynthesizeStopped().event())
        elif Synthesize.is_type(event.type):
            if self._live is None:  # inside a stream it only repeats the streamed text (backward compatibility)
                self._refuse_when_draining()
                await self._synthesize(Synthesize.from_event(event))
        return True

    def _refuse_when_draining(self) -> None:
        if self._draining():
            raise UnavailableError("the server is shutting down; retry once it is back", code="shutting_down")

    def _start_stream(self, voice: SynthesizeVoice | None) -> None:
        """A live session: a place among the open sessions (429 past the limits), then its speaker task."""
        place = self.service.sessions.open(self.client)
        try:
            live = LiveSpeech.open(self.service, ROUTE, self._options(voice), self.client)
        except BaseException:
            place.close()
            raise
        self._live, self._place = live, place
        self._speaker = speaker = asyncio.create_task(self._speak(live, per_segment=True))

        def ended(_task: asyncio.Task) -> None:  # even if cancelled unstarted
            live.close()
            place.close()
            if self._speaker is speaker:  # ended by itself (idle timeout, an error): the stream is over
                self._live = self._speaker = self._place = None

        speaker.add_done_callback(ended)

    def _options(self, voice: SynthesizeVoice | None) -> LiveOptions:
        """The asked voice (a name, else a speaker name, else the default voice) and language."""
        info = self.service.engine.info
        name = (voice.name or voice.speaker) if voice is not None else None
        choice = self.service.voices.resolve_voice(name or info.default_voice or "default", "voice")
        return LiveOptions(choice, language=self._language(voice))

    def _language(self, voice: SynthesizeVoice | None) -> str | None:
        """The asked language when the engine lists it (``en_US`` read as ``en-us``); otherwise the voice's own."""
        if voice is None or not voice.language:
            return None
        asked = voice.language.replace("_", "-").lower()
        return asked if asked in {lang.lower() for lang in self.service.engine.info.languages} else None

    async def _synthesize(self, request: Synthesize) -> None:
        self.service.planning.check_text(request.text, "text")
        options = self._options(request.voice)
        await LiveSpeech.check_document(self.service, ROUTE, options, request.text)
        self._synthesizing = True
        try:
            live = LiveSpeech.request(self.service, ROUTE, options, request.text, self.client)
            await self._speak(live, per_segment=False)
        finally:
            self._synthesizing = False

    async def _speak(self, live: LiveSpeech, per_segment: bool) -> None:
        """Send the session's audio; one audio-start/stop per segment when streaming, else one in all."""
        rate = self.service.engine.info.sample_rate
        start = AudioStart(rate=rate, width=2, channels=1).event()
        try:
            if not per_segment:
                await self.write_event(start)
            async with aclosing(live.events()) as events:
                async for event in events:
                    if isinstance(event, np.ndarray):
                        for i in range(0, len(event), CHUNK_SAMPLES):
                            chunk = AudioChunk(rate=rate, width=2, channels=1, audio=pcm16(event[i:i + CHUNK_SAMPLES]))
                            await self.write_event(chunk.event())
                    elif isinstance(event, SegmentStart) and per_segment:
                        await self.write_event(start)
                    elif isinstance(event, SegmentEnd) and per_segment:
                        await self.write_event(AudioStop().event())
            if not per_segment:
                await self.write_event(AudioStop().event())
        except SlowClientError as exc:
            log.warning("wyoming client %s: %s; synthesis abandoned", self.peer, exc)
        except ConnectionError:
            pass  # the client left: its reader notices and says so once
        except Exception as exc:
            await self._error(exc)
        finally:
            live.close()

    async def _end_stream(self) -> None:
        """Wait for the streamed session's last audio (or its error) to be sent."""
        speaker, self._speaker, self._live = self._speaker, None, None
        if speaker is not None:
            await speaker

    async def _error(self, exc: BaseException) -> None:
        err = to_api_error(exc)
        if err.kind in SERVER_FAULTS and err.code != "shutting_down":
            log.exception("wyoming request failed", exc_info=exc)
        code = err.code or ERROR_CODES[err.kind]
        if code is None:
            return  # the client is gone: nothing to send
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.write_event(Error(text=err.message, code=code).event())

    async def disconnect(self) -> None:
        """Client gone: stop its synthesis (counted as aborted) and free its slot."""
        speaker, self._speaker, self._live = self._speaker, None, None
        if speaker is not None:
            if not speaker.done():
                speaker.cancel()
            with contextlib.suppress(BaseException):
                await speaker  # retrieves its outcome, whatever it was

    async def stop(self) -> None:
        """Close the connection now (shutdown); :meth:`run` then ends and stops any synthesis."""
        with contextlib.suppress(Exception):
            self.reader.feed_eof()
        self.writer.close()

    def abort(self) -> None:
        """Cut the connection at once (the shutdown grace is over)."""
        if self._speaker is not None and not self._speaker.done():
            self._speaker.cancel()
        self.writer.transport.abort()


class WyomingServer:
    """The TCP listener and its connections; ``start`` and ``stop`` run inside the app's lifespan."""

    def __init__(self, service: SpeechService, host: str, port: int, drain: Drain | None = None) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.drain = drain
        self._server: asyncio.AbstractServer | None = None
        self._handlers: set[WyomingHandler] = set()
        self._tasks: set[asyncio.Task] = set()
        if drain is not None:
            drain.add_busy(self.busy)
            drain.on_begin(self.close_listener)
            drain.on_abort(self.abort)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connected, self.host, self.port, limit=MAX_HEADER_BYTES)
        log.info("wyoming server on tcp://%s:%d", self.host, self.port)

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = WyomingHandler(reader, writer, self.service, self.drain)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._handlers.add(handler)
        try:
            await handler.run()
        except Exception:
            log.exception("wyoming connection %s failed", handler.peer)
        finally:
            self._handlers.discard(handler)
            if task is not None:
                self._tasks.discard(task)

    def busy(self) -> int:
        """Connections with a synthesis or a stream under way."""
        return sum(1 for h in self._handlers if h.busy)

    async def close_listener(self) -> None:
        """Shutdown begins: no new connections; idle ones are closed, busy ones finish their work first."""
        if self._server is not None:
            self._server.close()
        for handler in list(self._handlers):
            if not handler.busy:
                await handler.stop()

    def abort(self) -> None:
        """The grace is over: cut every connection still open."""
        for handler in list(self._handlers):
            handler.abort()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for handler in list(self._handlers):
            await handler.stop()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)


@contextlib.asynccontextmanager
async def wyoming_server(config: ServerConfig, service: SpeechService,
                         drain: Drain | None = None) -> AsyncGenerator[WyomingServer | None, None]:
    """Serve Wyoming for the app's lifetime when ``config.wyoming_port`` is set."""
    if not config.wyoming_port:
        yield None
        return
    server = WyomingServer(service, config.wyoming_host or config.host, config.wyoming_port, drain)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
