"""The Qwen-TTS streaming service's API (seeds/003) in-process on a FakeEngine: its curl and Python examples,
``voice_attributes`` choosing the voice, the ``/tts`` formats, clear 400s, and ``/metrics`` counters that move
as requests are served, a hung-up stream included. Its formats on a real server, heard by speech recognition:
tests/compat/test_streaming_service.py."""

from __future__ import annotations

import pytest

from flashtts.audio import decode
from flashtts.engine import VoiceInfo

from fakes import FakeEngine
from support import AppStream, assert_openai_error

EN = "The boy was there when the sun rose."
VOICES = (VoiceInfo("low", "Low", "a male tone", "en"), VoiceInfo("high", "High", "a female tone", "en"))
SERIES = ("flashtts_requests_total", "flashtts_http_errors_total", "flashtts_requests_aborted_total",
          "flashtts_audio_seconds_total", "flashtts_time_to_first_audio_seconds_count", "flashtts_batch_size_count",
          "flashtts_queue_depth", "flashtts_active_requests", "flashtts_requests_failed_total",
          "flashtts_request_latency_seconds_count", "flashtts_characters_total")


async def _scrape(client) -> dict[str, float]:
    """``/metrics`` as {series: value} (histogram buckets and comments dropped)."""
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.headers
    return {name: float(value) for name, value in (line.rsplit(" ", 1) for line in r.text.splitlines()
                                                   if line and not line.startswith("#") and "_bucket{" not in line)}


@pytest.mark.parametrize("path, body, voice", [
    ("/stream-tts", {"text": "Hello, world!", "voice_attributes": {"gender": "female", "age": 25, "emotion": "happy"}},
     "high"),
    ("/tts", {"text": "Hello, world!", "format": "wav",
              "voice_attributes": {"gender": "male", "age": 30, "emotion": "neutral"}}, "low"),
    ("/stream-tts", {"text": "Hello, world!", "temperature": 0.7,
                     "voice_attributes": {"gender": "female", "age": 25, "emotion": "happy"}}, "high"),
])
async def test_curl_examples(serve, path, body, voice):
    engine = FakeEngine(voices=VOICES)
    async with serve(engine) as client:
        r = await client.post(path, json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav" and r.content[:4] == b"RIFF"
    assert len(decode(r.content, 16000)) / 16000 == pytest.approx(0.75, abs=0.02)
    assert [q.voice for q in engine.requests] == [voice]  # the attributes chose the voice
    assert [q.instructions for q in engine.requests] == [None]  # no instructions for an engine without them


@pytest.mark.parametrize("fmt, media", [("wav", "audio/wav"), ("mp3", "audio/mpeg"), ("ogg", "audio/ogg")])
async def test_full_tts_formats(fake_client, fmt, media):
    r = await fake_client.post("/tts", json={"text": EN, "format": fmt, "voice_attributes": {"gender": "male"}})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media
    assert float(r.headers["x-audio-duration"]) == pytest.approx(0.75, abs=0.01)
    assert len(decode(r.content, 16000)) / 16000 == pytest.approx(0.75, abs=0.06)  # codec padding aside


@pytest.mark.parametrize("body, param", [
    ({"text": "Hi", "voice_attributes": {"age": 0}}, "voice_attributes.age"),
    ({"text": "Hi", "voice_attributes": {"gender": "robot"}}, "voice_attributes.gender"),
    ({"text": "Hi", "temperature": 3.0}, "temperature"),
    ({"tokens": [1, 2, 3]}, "tokens"),
    ({}, "text"),
    ({"text": "   "}, "text"),
])
async def test_bad_requests_are_clear_400s(fake_client, body, param):
    err = assert_openai_error(await fake_client.post("/stream-tts", json=body), 400)
    assert err["param"] == param, err


async def test_tts_rejects_unknown_format(fake_client):
    err = assert_openai_error(await fake_client.post("/tts", json={"text": "Hi", "format": "xyz"}), 400)
    assert err["param"] == "format"


async def test_metrics_counters_move(serve):
    engine = FakeEngine()
    async with serve(engine) as client:
        before = await _scrape(client)
        assert set(SERIES) <= set(before)
        assert (await client.post("/stream-tts", json={"text": EN})).status_code == 200
        bad = await client.post("/stream-tts", json={"text": "Hi", "voice_attributes": {"age": 500}})
        assert bad.status_code == 400
        # a client that hangs up after the first chunk of a long text: the request is aborted
        engine.hold(first=1)
        async with AppStream(client.app, "POST", "/stream-tts", json_body={"text": " ".join([EN] * 40)}) as r:
            assert r.status == 200
            assert await r.__anext__()
            during = await _scrape(client)
        after = await _scrape(client)
    assert during["flashtts_active_requests"] == 1 and after["flashtts_active_requests"] == 0
    assert after["flashtts_requests_aborted_total"] == before["flashtts_requests_aborted_total"] + 1
    assert after["flashtts_requests_total"] == before["flashtts_requests_total"] + 2
    assert after["flashtts_http_errors_total"] == before["flashtts_http_errors_total"] + 1
    assert after["flashtts_audio_seconds_total"] == pytest.approx(before["flashtts_audio_seconds_total"] + 1.0)
    ttfa = "flashtts_time_to_first_audio_seconds_count"
    assert after[ttfa] == before[ttfa] + 2
    assert after["flashtts_request_latency_seconds_count"] == before["flashtts_request_latency_seconds_count"] + 1
    assert after["flashtts_characters_total"] >= before["flashtts_characters_total"] + len(EN)
