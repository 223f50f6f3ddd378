"""Helpers for the end-to-end tests that talk to a real ``flashtts serve`` process."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import numpy as np

from flashtts.audio import decode

from support import LiveServer, assert_openai_error  # noqa: F401  (re-exported)


@contextlib.contextmanager
def serving(tmp: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """A server for a whole module (the conftest fixture is per test); its log is printed on failure."""
    server = LiveServer(list(args), tmp / "server.log", env).start()
    try:
        yield server
    finally:
        server.stop()


def stats(url: str, headers: dict[str, str] | None = None) -> dict:
    """The server's counters (``/server_info`` ``stats``)."""
    r = httpx.get(url + "/server_info", headers=headers, timeout=30)
    r.raise_for_status()
    return r.json()["stats"]


def wait_idle(url: str, headers: dict[str, str] | None = None, limit: float = 60.0) -> dict:
    """Poll until no request is in flight; the counters then."""
    deadline = time.monotonic() + limit
    while True:
        s = stats(url, headers)
        if s["active_requests"] == 0 and s["queue_depth"] == 0:
            return s
        if time.monotonic() > deadline:
            raise AssertionError(f"server still busy after {limit} s: {s}")
        time.sleep(0.05)


def log_mark(server: LiveServer) -> int:
    """Where the server's log ends now (for :func:`errors_logged_since`)."""
    return server.log_path.stat().st_size


def errors_logged_since(server: LiveServer, mark: int) -> list[str]:
    """ERROR lines, tracebacks and unretrieved task exceptions the server logged after ``mark``."""
    log = server.log_path.read_bytes()[mark:].decode(errors="replace")
    return [line for line in log.splitlines()
            if " ERROR " in line or "Traceback" in line or "never retrieved" in line]


async def resets_leave_no_trace(server: LiveServer, one, count: int, batch: int,
                                headers: dict[str, str] | None = None) -> int:
    """Run ``await one(n)`` for each ``n < count``, ``batch`` at a time (clients that reset their
    connections); then no slot or session is held and no error was logged (``headers``: the key to ask
    with). The log mark before."""
    import asyncio

    mark = log_mark(server)
    for start in range(0, count, batch):
        await asyncio.gather(*(one(n) for n in range(start, min(count, start + batch))))
    after = wait_idle(server.url, headers)
    assert after["active_requests"] == 0 and after["live_sessions"] == 0, after
    bad = errors_logged_since(server, mark)
    assert not bad, "\n".join(bad[:10])
    return mark


def reset(transport) -> None:
    """Close a client connection with a TCP reset (SO_LINGER 0), as a client whose process died."""
    import socket
    import struct

    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def audio_info(data: bytes) -> tuple[float, int, int]:
    """(seconds, stream sample rate, decoded sample count) of an encoded file, decoded with PyAV."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        samples = sum(frame.samples for frame in container.decode(stream))
    return samples / rate, rate, samples


def to_16k(data: bytes, fmt: str = "mp3") -> np.ndarray:
    """Float32 16 kHz mono for speech recognition."""
    if fmt == "pcm":
        pcm = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0
        return decode(_wav(pcm), 16000)
    return decode(data, 16000)


def _wav(samples: np.ndarray, rate: int = 24000) -> bytes:
    from flashtts.audio import encode

    return encode(samples, rate, "wav")
