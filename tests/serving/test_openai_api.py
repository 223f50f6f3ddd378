"""The OpenAI routes in-process (FakeEngine), driven by the official SDK over ``ASGITransport``: every format,
speed by time-stretching, errors and models, word timings as SSE events. The real voice and a real socket:
tests/test_openai_sdk.py."""

from __future__ import annotations

import base64
import json

import openai
import pytest

from flashtts.engine import Capabilities

from fakes import FakeEngine
from live import audio_info
from support import assert_openai_error

MAGIC = {"mp3": (b"ID3", b"\xff"), "opus": (b"OggS",), "aac": (b"\xff",), "flac": (b"fLaC",), "wav": (b"RIFF",)}


def _sdk(client) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url="http://localhost/v1", api_key="unused", max_retries=0, http_client=client)


async def test_sdk_every_format_and_speed(serve):
    """Every response_format the SDK can ask for comes back as what it says; the server time-stretches
    ``speed`` for an engine that cannot (3 s of tone at speed 1.25 is 2.4 s)."""
    async with serve(FakeEngine(Capabilities(speed=False), chunks=12)) as client:
        sdk = _sdk(client)
        for fmt, starts in MAGIC.items():
            data = (await sdk.audio.speech.create(model="tts-1", voice="alloy", input="The box was thrown.",
                                                  response_format=fmt, speed=1.25)).content
            assert data.startswith(starts), (fmt, data[:8])
            assert audio_info(data)[0] == pytest.approx(2.4, rel=0.05), fmt  # codec padding aside
        pcm = (await sdk.audio.speech.create(model="tts-1", voice="alloy", input="The box was thrown.",
                                             response_format="pcm", speed=1.25)).content
        assert len(pcm) % 2 == 0 and len(pcm) / 48000 == pytest.approx(2.4, rel=0.01)


async def test_sdk_speed_changes_duration(serve):
    engine = FakeEngine(Capabilities(speed=False))
    async with serve(engine) as client:
        sdk = _sdk(client)
        slow = (await sdk.audio.speech.create(model="tts-1", voice="alloy", input="The boy was there.",
                                              response_format="pcm", speed=0.5)).content
        fast = (await sdk.audio.speech.create(model="tts-1", voice="alloy", input="The boy was there.",
                                              response_format="pcm", speed=2.0)).content
    assert len(slow) / len(fast) == pytest.approx(4.0, rel=0.05)
    assert {q.speed for q in engine.requests} == {1.0}  # the engine cannot: it was asked for normal speed


async def test_native_speed_goes_to_the_engine(serve):
    engine = FakeEngine(Capabilities(speed=True))
    async with serve(engine) as client:
        r = await client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "Hi there.",
                                                        "response_format": "pcm", "speed": 2.0, "stream": False})
    assert r.status_code == 200 and len(r.content) / 48000 == pytest.approx(0.75, rel=0.01)  # not stretched
    assert [q.speed for q in engine.requests] == [2.0]


async def test_sdk_errors_and_models(fake_client):
    sdk = _sdk(fake_client)
    with pytest.raises(openai.BadRequestError) as info:
        await sdk.audio.speech.create(model="tts-1", voice="nobody-here", input="Hello.")
    assert info.value.status_code == 400
    assert info.value.body["code"] == "voice_not_found" and info.value.body["param"] == "voice"
    assert "nobody-here" in info.value.body["message"]
    ids = {m.id for m in (await sdk.models.list()).data}
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "fake"} <= ids
    # the voice object form {"id": ...}, here a seeded role
    data = (await sdk.audio.speech.create(model="tts-1", voice={"id": "narrator"}, input="Hello there.")).content
    assert audio_info(data)[0] > 0.3


async def test_timestamps_ask_for_sse(fake_client):
    r = await fake_client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "tone", "input": "Hello there.",
                                                         "timestamps": True})
    err = assert_openai_error(r, 400)
    assert err["param"] == "timestamps" and "sse" in err["message"]


async def test_engine_without_timestamps_answers_400(fake_client):
    for path, extra in (("/v1/audio/speech/captioned", {}),
                        ("/v1/audio/speech", {"stream_format": "sse", "timestamps": True})):
        r = await fake_client.post(path, json={"model": "tts-1", "voice": "tone", "input": "Hello there.", **extra})
        err = assert_openai_error(r, 400)
        assert "timestamps" in err["message"] and err["code"] == "unsupported_capability"
    assert not fake_client.engine.requests


async def test_word_events_come_with_the_audio_on_one_timeline(serve):
    """Each segment's words are shifted onto the whole answer's timeline and sent as the audio comes."""
    engine = FakeEngine(Capabilities(timestamps=True, speed=True), chunks=3, chunk_seconds=0.25)
    text = "One two three. Four five six."
    async with serve(engine, length_threshold=5, window_size=15) as client:
        r = await client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "tone", "input": text,
                                                        "response_format": "pcm", "stream_format": "sse",
                                                        "timestamps": True})
        assert r.status_code == 200, r.text
        captioned = (await client.post("/v1/audio/speech/captioned", json={
            "model": "tts-1", "voice": "tone", "input": text, "response_format": "wav"})).json()
    events = [json.loads(line[6:]) for line in r.text.split("\n") if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "speech.audio.done" and kinds.index("speech.audio.words") < len(kinds) - 2
    words = [w for e in events if e["type"] == "speech.audio.words" for w in e["words"]]
    expected = [{"word": w, "start": 0.25 * i, "end": 0.25 * (i + 1)}
                for i, w in enumerate(["One", "two", "three.", "Four", "five", "six."])]
    assert words == expected  # the second segment starts at 0.75 s, where the first one's audio ends
    pcm = sum(len(base64.b64decode(e["audio"])) for e in events if e["type"] == "speech.audio.delta")
    assert pcm / 48000 == pytest.approx(1.5, rel=0.01)
    assert captioned["words"] == expected and captioned["duration"] == pytest.approx(1.5, abs=0.01)
