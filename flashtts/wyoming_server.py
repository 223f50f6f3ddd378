"""A Wyoming server (Home Assistant's voice protocol) beside HTTP, on the same event loop and SpeechService.

``describe`` -> ``info`` with one TTS program whose voices are the engine's built-in voices and
the roles; ``synthesize`` -> ``audio-start`` / ``audio-chunk``s / ``audio-stop`` (16-bit mono PCM
at the engine's rate); the streaming form (``synthesize-start``, ``synthesize-chunk``s,
``synthesize-stop``) speaks each sentence as soon as it is complete, each with its own
audio-start/stop, and ends with ``synthesize-stopped``. Every failure is answered with an
``error`` event. Wyoming has no authentication: listen on loopback or a trusted network.
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
from wyoming.server import AsyncEventHandler, AsyncTcpServer
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped, SynthesizeVoice

from flashtts import __version__
from flashtts.config import ServerConfig
from flashtts.errors import APIError, to_api_error
from flashtts.live_speech import LiveOptions, LiveSpeech, SegmentEnd, SegmentStart
from flashtts.serving import SpeechService
from flashtts.wyoming_events import WyomingProtocolError, read_event, write_event

log = logging.getLogger(__name__)

ROUTE = "wyoming"
CHUNK_SAMPLES = 2048
"""Samples per ``audio-chunk`` event."""
ATTRIBUTION = Attribution(name="flashtts", url="https://github.com/flashtts/flashtts")


def pcm16(samples: np.ndarray) -> bytes:
    """Float32 [-1, 1] to 16-bit little-endian PCM."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


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

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: SpeechService) -> None:
        super().__init__(reader, writer)
        self.service = service
        self._live: LiveSpeech | None = None
        self._speaker: asyncio.Task | None = None

    async def run(self) -> None:
        """Receive events until the client leaves; bounded reads (:mod:`flashtts.wyoming_events`), and a
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
        finally:
            await self.disconnect()
            self.writer.close()

    async def write_event(self, event: Event) -> None:
        await write_event(event, self.writer, self.service.config.limits.send_timeout)

    async def handle_event(self, event: Event) -> bool:
        try:
            return await self._handle(event)
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
            self._live = self._open(SynthesizeStart.from_event(event).voice)
            self._speaker = asyncio.create_task(self._speak(self._live, per_segment=True))
            live = self._live
            self._speaker.add_done_callback(lambda _task: live.close())  # even if cancelled unstarted
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
                await self._synthesize(Synthesize.from_event(event))
        return True

    def _open(self, voice: SynthesizeVoice | None) -> LiveSpeech:
        """A session in the asked voice (a name, else a speaker name, else the default voice)."""
        info = self.service.engine.info
        name = (voice.name or voice.speaker) if voice is not None else None
        choice = self.service.resolve_voice(name or info.default_voice or "default", "voice")
        return LiveSpeech.open(self.service, ROUTE, LiveOptions(choice, language=self._language(voice)))

    def _language(self, voice: SynthesizeVoice | None) -> str | None:
        """The asked language when the engine lists it (``en_US`` read as ``en-us``); otherwise the voice's own."""
        if voice is None or not voice.language:
            return None
        asked = voice.language.replace("_", "-").lower()
        return asked if asked in {lang.lower() for lang in self.service.engine.info.languages} else None

    async def _synthesize(self, request: Synthesize) -> None:
        self.service.check_text(request.text, "text")
        live = self._open(request.voice)
        live.say(request.text)
        await self._speak(live, per_segment=False)

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
        if err.status >= 500:
            log.exception("wyoming request failed", exc_info=exc)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.write_event(Error(text=err.message, code=err.code or err.type).event())

    async def disconnect(self) -> None:
        """Client gone: stop its synthesis (counted as aborted) and free its slot."""
        speaker, self._speaker = self._speaker, None
        if speaker is not None and not speaker.done():
            speaker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await speaker


class WyomingServer:
    """The TCP listener; ``start`` and ``stop`` run inside the app's lifespan."""

    def __init__(self, service: SpeechService, host: str, port: int) -> None:
        self.service = service
        self._server = AsyncTcpServer(host, port)

    async def start(self) -> None:
        await self._server.start(lambda r, w: WyomingHandler(r, w, self.service))
        log.info("wyoming server on tcp://%s:%d", self._server.host, self._server.port)

    async def stop(self) -> None:
        await self._server.stop()


@contextlib.asynccontextmanager
async def wyoming_server(config: ServerConfig, service: SpeechService) -> AsyncGenerator[WyomingServer | None, None]:
    """Serve Wyoming for the app's lifetime when ``config.wyoming_port`` is set."""
    if not config.wyoming_port:
        yield None
        return
    server = WyomingServer(service, config.wyoming_host or config.host, config.wyoming_port)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
