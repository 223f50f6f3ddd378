"""Reusable fakes for in-process serving tests (never for acceptance tests).

:class:`FakeEngine` speaks a tone per segment in ``chunks`` pieces, instantly or with a delay per
chunk, records every request it was given and every abort, and can be held at a gate so a test
decides when audio comes out. Its capabilities, voices and languages are set per test.
:func:`tone_wav` is a reference clip that passes the upload checks.
"""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator

import numpy as np

from flashtts.engine import (
    Capabilities,
    Engine,
    EngineConfig,
    EngineInfo,
    SynthesisRequest,
    TimedChunk,
    VoiceInfo,
    WordTiming,
)
from flashtts.metrics import Metrics

RATE = 16000


def tone_wav(seconds: float = 2.0, rate: int = 22050) -> bytes:
    """A 16-bit mono WAV clip that decodes and passes the reference checks (not silent, long enough)."""
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


class FakeEngine(Engine):
    name = "fake"
    description = "test double: tones"

    def __init__(self, capabilities: Capabilities | None = None, *, chunks: int = 3, chunk_seconds: float = 0.25,
                 delay: float = 0.0, languages: tuple[str, ...] = ("auto", "en"),
                 voices: tuple[VoiceInfo | str, ...] = ("tone",)) -> None:
        super().__init__(EngineConfig(), Metrics())
        self.capabilities = capabilities or Capabilities(speed=True)
        self.chunks = chunks
        self.chunk_seconds = chunk_seconds
        self.delay = delay
        self.languages = languages
        self.voices = tuple(v if isinstance(v, VoiceInfo) else VoiceInfo(v, v.capitalize(), "a test tone", "en")
                            for v in voices)
        """The engine's voices (a name alone is a test tone of that name)."""
        self.requests: list[SynthesisRequest] = []
        self.aborted: list[str] = []
        self.finished: list[str] = []
        self.gate: asyncio.Event | None = None
        """When set to an Event, every chunk waits for it."""
        self.permits: asyncio.Semaphore | None = None
        """When set (:meth:`hold`), every chunk takes one permit: a test lets chunks out one by one."""
        self._held = False
        self.weights_loaded = True
        self.unloads = 0
        self.reloads = 0

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(name=self.name, model="fake-tone", sample_rate=RATE, voices=self.voices,
                          default_voice=self.voices[0].id if self.voices else None,
                          languages=self.languages, capabilities=self.capabilities)

    async def start(self) -> None:
        return None

    async def unload(self) -> None:
        self.weights_loaded = False
        self.unloads += 1

    async def reload(self) -> None:
        await asyncio.sleep(self.delay)
        self.weights_loaded = True
        self.reloads += 1

    async def synthesize(self, request: SynthesisRequest) -> AsyncIterator[np.ndarray | TimedChunk]:
        """``chunks`` tones; with ``request.timestamps`` each chunk carries one word of the text."""
        if not self.weights_loaded:
            raise RuntimeError("synthesize() on an unloaded engine")
        self.requests.append(request)
        n = int(RATE * self.chunk_seconds)
        t = np.arange(n) / RATE
        words = request.text.split()
        for i in range(self.chunks):
            if self.gate is not None:
                await self.gate.wait()
            if self._held and self.permits is not None:
                await self.permits.acquire()
            if self.delay:
                await asyncio.sleep(self.delay)
            tone = (0.3 * np.sin(2 * np.pi * (220 + 20 * i) * t)).astype(np.float32)
            if request.timestamps:
                said = (WordTiming(words[i], i * self.chunk_seconds, (i + 1) * self.chunk_seconds),) \
                    if i < len(words) else ()
                yield TimedChunk(tone, said)
            else:
                yield tone
        self.finished.append(request.request_id)

    def hold(self, first: int = 0) -> None:
        """From now on a chunk comes out only when :meth:`let_out` allows it (``first`` are allowed now)."""
        self._held = True
        self.permits = asyncio.Semaphore(first)

    def let_out(self, chunks: int = 1) -> None:
        assert self.permits is not None
        for _ in range(chunks):
            self.permits.release()

    def let_all_out(self) -> None:
        """Stop holding chunks back (and wake every stream that waits)."""
        self._held = False
        if self.permits is not None:
            self.let_out(len(self.requests) + 1)

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)
