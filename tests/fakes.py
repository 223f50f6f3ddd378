"""A reusable fake engine for in-process serving tests (never for acceptance tests).

:class:`FakeEngine` speaks a tone per segment in ``chunks`` pieces, instantly or with a delay per
chunk, records every request it was given and every abort, and can be held at a gate so a test
decides when audio comes out. Its capabilities are set per test.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import numpy as np

from flashtts.engine import Capabilities, Engine, EngineConfig, EngineInfo, SynthesisRequest, VoiceInfo
from flashtts.metrics import Metrics

RATE = 16000


class FakeEngine(Engine):
    name = "fake"
    description = "test double: tones"

    def __init__(self, capabilities: Capabilities | None = None, *, chunks: int = 3, chunk_seconds: float = 0.25,
                 delay: float = 0.0, languages: tuple[str, ...] = ("auto", "en"),
                 voices: tuple[str, ...] = ("tone",)) -> None:
        super().__init__(EngineConfig(), Metrics())
        self.capabilities = capabilities or Capabilities(speed=True)
        self.chunks = chunks
        self.chunk_seconds = chunk_seconds
        self.delay = delay
        self.languages = languages
        self.voices = voices
        self.requests: list[SynthesisRequest] = []
        self.aborted: list[str] = []
        self.finished: list[str] = []
        self.gate: asyncio.Event | None = None
        """When set to an Event, every chunk waits for it."""
        self.weights_loaded = True
        self.unloads = 0
        self.reloads = 0

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(name=self.name, model="fake-tone", sample_rate=RATE,
                          voices=tuple(VoiceInfo(v, v.capitalize(), "a test tone", "en") for v in self.voices),
                          default_voice=self.voices[0],
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

    async def synthesize(self, request: SynthesisRequest) -> AsyncIterator[np.ndarray]:
        if not self.weights_loaded:
            raise RuntimeError("synthesize() on an unloaded engine")
        self.requests.append(request)
        n = int(RATE * self.chunk_seconds)
        t = np.arange(n) / RATE
        for i in range(self.chunks):
            if self.gate is not None:
                await self.gate.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
            yield (0.3 * np.sin(2 * np.pi * (220 + 20 * i) * t)).astype(np.float32)
        self.finished.append(request.request_id)

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)
