"""Streaming delivers its first audio before synthesis of the input has finished (in-process, FakeEngine).

No clocks: the fake engine lets its chunks out one permit at a time, so the test knows that synthesis is
not over (the engine is waiting for the next permit) when the client holds its first audio. The answer is
read part by part as the app sends it (support.AppStream). Through a real socket on the real voice:
tests/test_openai_sdk.py::test_sse_streams_before_synthesis_finished and ::test_chunked_audio_streams.
"""

from __future__ import annotations

import base64
import json

import pytest

from fakes import FakeEngine
from live import audio_info
from support import AppStream

FOUR_SENTENCES = ("The small pup gnawed a hole in the sock. The fish twisted and turned on the bent hook. "
                  "Press the pants and sew a button on the vest. The swan dive was far short of perfect.")


def _engine() -> FakeEngine:
    """An engine that lets one chunk out, then waits for the test (the answer starts with the first audio)."""
    engine = FakeEngine(chunks=3, chunk_seconds=0.25)
    engine.hold(first=1)
    return engine


async def _first_part_while_engine_waits(stream: AppStream, engine: FakeEngine, skip: int = 0) -> bytes:
    """The first part with more than ``skip`` bytes arrives while the engine waits after its first chunk."""
    received = b""
    async for part in stream:
        received += part
        if len(received) > skip:
            break
    assert engine.finished == [] and len(engine.requests) == 1  # synthesis of the first segment is not over
    return received


async def test_sse_first_delta_before_synthesis_finished(serve):
    engine = _engine()
    async with serve(engine, length_threshold=10, window_size=50) as client:
        body = {"model": "tts-1", "voice": "alloy", "input": FOUR_SENTENCES, "response_format": "mp3",
                "stream_format": "sse"}
        async with AppStream(client.app, "POST", "/v1/audio/speech", json_body=body) as stream:
            assert stream.status == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["x-accel-buffering"] == "no"
            first = await _first_part_while_engine_waits(stream, engine)
            assert b"speech.audio.delta" in first
            engine.let_all_out()
            rest = await stream.read()
    events = [json.loads(line[6:]) for line in (first + rest).decode().split("\n") if line.startswith("data: ")]
    types = [e["type"] for e in events]
    assert types[0] == "speech.audio.delta" and types[-1] == "speech.audio.done", types
    assert set(types[:-1]) == {"speech.audio.delta"} and len(engine.requests) == 4  # four sentences
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    seconds, rate, _ = audio_info(audio)
    assert rate == 24000
    assert seconds == pytest.approx(events[-1]["usage"]["audio_seconds"], rel=0.03)
    assert events[-1]["usage"]["audio_seconds"] == pytest.approx(4 * 0.75, rel=0.01)


@pytest.mark.parametrize("route,fmt", [("/v1/audio/speech", "pcm"), ("/v1/audio/speech", "mp3"),
                                       ("/v1/audio/speech", "wav"), ("/speak", "opus")])
async def test_chunked_audio_first_bytes_before_synthesis_finished(serve, route, fmt):
    if route == "/speak":
        body = {"name": "tone", "text": FOUR_SENTENCES, "response_format": fmt, "stream": True}
    else:
        body = {"model": "tts-1", "voice": "alloy", "input": FOUR_SENTENCES, "response_format": fmt}  # streams
    engine = _engine()
    async with serve(engine, length_threshold=10, window_size=50) as client:
        async with AppStream(client.app, "POST", route, json_body=body) as stream:
            assert stream.status == 200
            assert "x-audio-duration" not in stream.headers
            # a live WAV starts with its 44-byte header: count audio only
            first = await _first_part_while_engine_waits(stream, engine, skip=44 if fmt == "wav" else 0)
            engine.let_all_out()
            received = first + await stream.read()
    assert len(engine.finished) == 4
    if fmt == "pcm":
        assert len(received) % 2 == 0 and len(received) / 48000 == pytest.approx(3.0, rel=0.01)
    else:
        assert audio_info(received)[0] == pytest.approx(3.0, rel=0.05)
