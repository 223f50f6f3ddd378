"""The Qwen3-TTS self-hosting plan's API (seeds/001) in-process on a FakeEngine: health, voices with their
traits, the Go client's request answered as base64 WAV in JSON, speed, the result cache (``--result_cache_mb``),
clear 400s. Its Go client's request on a real server, heard by speech recognition:
tests/compat/test_selfhost.py."""

from __future__ import annotations

import base64

import pytest

from flashtts.audio import decode
from flashtts.engine import Capabilities, VoiceInfo

from compat_helpers import wav_params
from fakes import FakeEngine
from support import assert_openai_error

EN = "The box was thrown beside the parked truck."
VOICES = (VoiceInfo("low", "Low", "a male tone", "en"), VoiceInfo("high", "High", "a female tone", "en"))


def _go_client_request(text: str, **extra) -> dict:
    # what the document's Go client sends: Qwen3Request with EnableStreaming false, no instruct without emotion
    return {"text": text, "language": "en", "speaker": "Vivian", "enable_streaming": False, **extra}


async def test_health_and_voices_curl_examples(serve):
    async with serve(FakeEngine(voices=VOICES)) as client:
        body = (await client.get("/api/health")).json()
        assert body["status"] == "healthy" and body["model_loaded"] is True
        assert isinstance(body["device"], str) and body["device"]
        assert isinstance(body["concurrent_tasks"], int) and body["uptime_seconds"] >= 0
        voices = {v["id"]: v for v in (await client.get("/api/voices")).json()["voices"]}
    assert set(voices["low"]) == {"id", "name", "language", "gender", "description"}
    assert (voices["low"]["gender"], voices["high"]["gender"], voices["low"]["language"]) == ("male", "female", "en")


async def test_synthesize_curl_example_needs_instructions(fake_client):
    # the document's curl example: Chinese, speaker Vivian, an instruction; this engine follows no instructions
    r = await fake_client.post("/api/tts/synthesize", json={
        "text": "你好，欢迎使用 Qwen3-TTS 语音合成服务。", "language": "zh", "speaker": "Vivian",
        "instruct": "用开心的语气说"})
    err = assert_openai_error(r, 400)
    assert "instructions" in err["message"] and err["code"] == "unsupported_capability"


async def test_go_client_request_returns_base64_wav(serve):
    engine = FakeEngine(voices=VOICES)
    async with serve(engine) as client:
        r = await client.post("/api/tts/synthesize", json=_go_client_request(EN))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"success", "audio_url", "audio_base64", "duration", "sample_rate", "processing_time",
                         "message"}
    assert body["success"] is True and body["audio_url"] is None and body["message"] is None
    assert body["sample_rate"] == 24000 and body["processing_time"] > 0
    wav = base64.b64decode(body["audio_base64"])  # `jq .audio_base64 -r | base64 -d > output.wav`
    assert wav_params(wav) == (1, 2, 24000)
    assert len(decode(wav, 24000)) / 24000 == pytest.approx(body["duration"], abs=0.01)
    assert body["duration"] == pytest.approx(0.75, abs=0.01)
    assert [q.voice for q in engine.requests] == ["high"]  # Vivian, a young woman: the closest voice here


async def test_speed_changes_duration(serve):
    async with serve(FakeEngine(Capabilities(speed=False))) as client:
        slow = (await client.post("/api/tts/synthesize", json=_go_client_request(EN, speed=0.5))).json()
        fast = (await client.post("/api/tts/synthesize", json=_go_client_request(EN, speed=2.0))).json()
    assert slow["duration"] == pytest.approx(4 * fast["duration"], rel=0.05)


async def test_result_cache_serves_repeats(serve):
    engine = FakeEngine()
    async with serve(engine, result_cache_mb=4) as client:
        request = _go_client_request("It's easy to tell the depth of a well.")
        first = (await client.post("/api/tts/synthesize", json=request)).json()
        second = (await client.post("/api/tts/synthesize", json=request)).json()
        other = (await client.post("/api/tts/synthesize", json={**request, "pitch": 1.2})).json()
        metrics = (await client.get("/metrics")).text
    assert second["audio_base64"] == first["audio_base64"]
    assert other["audio_base64"] != first["audio_base64"]
    assert len(engine.requests) == 2  # the repeat never reached the engine
    assert "flashtts_result_cache_hits_total 1" in metrics.splitlines()


@pytest.mark.parametrize("body, param", [
    ({"text": EN, "speed": 3.0}, "speed"),
    ({"text": EN, "pitch": 0.1}, "pitch"),
    ({"text": ""}, "text"),
    ({"text": "x" * 5001}, "text"),
    ({"text": EN, "speaker": "Nobody"}, "speaker"),
    ({"text": EN, "language": "xx"}, None),
])
async def test_bad_requests_are_clear_400s(fake_client, body, param):
    err = assert_openai_error(await fake_client.post("/api/tts/synthesize", json=body), 400)
    assert err["param"] == param, err
    if param == "speaker":
        assert "tone" in err["message"]
    if param is None:
        assert "language 'xx'" in err["message"]
