"""Qwen3-TTS self-hosting plan (seeds/001): its curl examples and its Go client's request against a
real server; the result cache (``--result_cache_mb``)."""

from __future__ import annotations

import base64

import httpx
import pytest

from compat_helpers import scrape, wav_params
from support import wer
from flashtts.audio import decode
from live import assert_openai_error, serving

pytestmark = pytest.mark.slow

EN = "The box was thrown beside the parked truck."


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("selfhost")
    with serving(tmp, "--role_dir", str(tmp / "roles"), "--result_cache_mb", "4") as s:
        yield s


def test_health_curl_example(server):
    r = httpx.get(server.url + "/api/health", timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "healthy" and body["model_loaded"] is True
    assert isinstance(body["device"], str) and body["device"]
    assert isinstance(body["concurrent_tasks"], int)
    assert body["uptime_seconds"] >= 0


def test_voices_curl_example(server):
    r = httpx.get(server.url + "/api/voices", timeout=30)
    assert r.status_code == 200
    voices = r.json()["voices"]
    joe = next(v for v in voices if v["id"] == "joe")
    assert set(joe) == {"id", "name", "language", "gender", "description"}
    assert joe["gender"] == "male" and joe["language"] == "en"


def test_synthesize_curl_example_needs_instructions(server):
    # the document's curl example: Chinese, speaker Vivian, an instruction; Piper follows no instructions
    r = httpx.post(server.url + "/api/tts/synthesize", json={
        "text": "你好，欢迎使用 Qwen3-TTS 语音合成服务。", "language": "zh", "speaker": "Vivian", "instruct": "用开心的语气说"},
        timeout=60)
    err = assert_openai_error(r, 400)
    assert "instructions" in err["message"] and err["code"] == "unsupported_capability"


def _go_client_request(text: str, **extra) -> dict:
    # what the document's Go client sends: Qwen3Request with EnableStreaming false, no instruct without emotion
    return {"text": text, "language": "en", "speaker": "Vivian", "enable_streaming": False, **extra}


def test_go_client_request_returns_base64_wav(server, transcribe):
    r = httpx.post(server.url + "/api/tts/synthesize", json=_go_client_request(EN), timeout=120)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"success", "audio_url", "audio_base64", "duration", "sample_rate", "processing_time", "message"}
    assert body["success"] is True and body["audio_url"] is None and body["message"] is None
    assert body["sample_rate"] == 24000 and body["processing_time"] > 0
    wav = base64.b64decode(body["audio_base64"])  # `jq .audio_base64 -r | base64 -d > output.wav`
    assert wav_params(wav) == (1, 2, 24000)
    samples = decode(wav, 24000)
    assert abs(len(samples) / 24000 - body["duration"]) < 0.05
    assert wer(EN, transcribe(decode(wav, 16000))) <= 0.2


def test_speed_changes_duration(server):
    slow = httpx.post(server.url + "/api/tts/synthesize", json=_go_client_request(EN, speed=0.5), timeout=120).json()
    fast = httpx.post(server.url + "/api/tts/synthesize", json=_go_client_request(EN, speed=2.0), timeout=120).json()
    assert slow["duration"] > 2.5 * fast["duration"]


def test_result_cache_serves_repeats(server):
    request = _go_client_request("It's easy to tell the depth of a well.")
    before = scrape(server.url)
    first = httpx.post(server.url + "/api/tts/synthesize", json=request, timeout=120).json()
    second = httpx.post(server.url + "/api/tts/synthesize", json=request, timeout=120).json()
    other = httpx.post(server.url + "/api/tts/synthesize", json={**request, "pitch": 1.2}, timeout=120).json()
    after = scrape(server.url)
    assert second["audio_base64"] == first["audio_base64"]
    assert other["audio_base64"] != first["audio_base64"]
    assert after["flashtts_result_cache_hits_total"] == before["flashtts_result_cache_hits_total"] + 1
    assert after["flashtts_batches_total"] > before["flashtts_batches_total"]


@pytest.mark.parametrize("body, param", [
    ({"text": EN, "speed": 3.0}, "speed"),
    ({"text": EN, "pitch": 0.1}, "pitch"),
    ({"text": ""}, "text"),
    ({"text": "x" * 5001}, "text"),
    ({"text": EN, "speaker": "Nobody"}, "speaker"),
    ({"text": EN, "language": "xx"}, None),
])
def test_bad_requests_are_clear_400s(server, body, param):
    err = assert_openai_error(httpx.post(server.url + "/api/tts/synthesize", json=body, timeout=30), 400)
    assert err["param"] == param, err
    if param == "speaker":
        assert "joe" in err["message"]
    if param is None:
        assert "language 'xx'" in err["message"]
