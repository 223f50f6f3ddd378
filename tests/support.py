"""Test helpers shared by every test module: real servers on loopback, in-process apps, WER.

Import them with ``from support import ...`` (``tests/`` is on pytest's ``pythonpath``).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from difflib import SequenceMatcher
from pathlib import Path
from typing import AsyncIterator

import httpx
import numpy as np
from asgi_lifespan import LifespanManager

from flashtts.app import create_app
from flashtts.config import ServerConfig
from flashtts.engine import Engine, SynthesisRequest, TimedChunk
from flashtts.live_server import LiveServer as _LiveServer
from flashtts.live_server import free_port  # noqa: F401  (re-exported)

ROOT = Path(__file__).resolve().parent.parent

# Five Harvard sentences that whisper tiny.en hears reliably in Piper's joe voice. Piper's output is
# random (VITS noise, no seed), so sentences were chosen by measurement (tools/sentence_reliability.py,
# WER > 0.2 in N syntheses): the first three 0 of 100 each (tests that check one sentence at a time
# take them), "juice" 3 of 100 and "glue" 2 of 100 (used only inside longer texts). Left out: "The
# birch canoe slid on the smooth planks." (heard as "can use lid" nearly always), "These days a
# chicken leg is a rare dish." (10 of 30), "Rice is often served in round bowls." (2 of 30, heard as
# "Rises often served": it once turned CI red).
HARVARD = [
    "It's easy to tell the depth of a well.",
    "The boy was there when the sun rose.",
    "The box was thrown beside the parked truck.",
    "The juice of lemons makes fine punch.",
    "Glue the sheet to the dark blue background.",
]


@asynccontextmanager
async def app_client(config: ServerConfig, engine=None) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to a fresh app in-process (lifespan run, engine started)."""
    app = create_app(config, engine)
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=120) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@asynccontextmanager
async def started(engine: Engine) -> AsyncIterator[Engine]:
    """A real engine started for the block (a module fixture's), stopped after it."""
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def speak_timed(engine: Engine, request: SynthesisRequest) -> tuple[np.ndarray, list]:
    """A started engine's answer to a request with ``timestamps``, validated first: the audio joined, and
    the timed words."""
    engine.validate(request)
    audio, words = [], []
    async for chunk in engine.synthesize(request):
        assert isinstance(chunk, TimedChunk)
        audio.append(chunk.audio)
        words += chunk.words
    return np.concatenate(audio), words


class LiveServer(_LiveServer):
    """A real ``flashtts serve`` process on loopback, run from the repository root."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(args, log_path, env, cwd=ROOT)

    def start(self, timeout: float = 120.0) -> "LiveServer":
        super().start(timeout)
        return self


async def until(condition, limit: float = 10.0) -> None:
    """Wait (polling) until ``condition()`` is true; TimeoutError after ``limit`` seconds."""
    import asyncio

    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(wait(), limit)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after lower-casing and dropping punctuation."""
    import jiwer

    def norm(t: str) -> str:
        return " ".join("".join(ch for ch in t.lower() if ch.isalnum() or ch.isspace() or ch == "'").split())

    return jiwer.wer(norm(reference), norm(hypothesis))


def word_pairs(ours: list[str], theirs: list[str]) -> list[tuple[int, int]]:
    """Indices of the words in the same place of two transcripts (case and punctuation aside): equal
    words, and one-for-one substitutions (the same spoken word heard as another)."""
    def norm(word: str) -> str:
        return "".join(ch for ch in word.lower() if ch.isalnum())

    a, b = [norm(w) for w in ours], [norm(w) for w in theirs]
    return [(i1 + k, j1 + k) for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
            if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1) for k in range(i2 - i1)]
