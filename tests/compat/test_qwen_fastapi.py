"""Qwen3-TTS FastAPI deployment (seeds/000): its examples against a real server started with
``--workers 2`` (two engine replicas, requests spread over them)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import requests

from support import wer
from flashtts.audio import decode
from live import assert_openai_error, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qwen_fastapi")
    with serving(tmp, "--role_dir", str(tmp / "roles"), "--workers", "2") as s:
        yield s


def test_health_curl_example(server):
    r = httpx.get(server.url + "/health", timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert {"status": "healthy", "model_loaded": True, "cuda_available": False}.items() <= body.items()


def test_languages(server):
    r = httpx.get(server.url + "/languages", timeout=30)
    assert r.status_code == 200
    assert set(r.json()) == {"languages"} and "auto" in r.json()["languages"]


def test_python_example_needs_a_voice_design_engine(server):
    # the document's Python example; Piper cannot design voices, so a clear 400 instead of audio
    response = requests.post(server.url + "/tts/voice_design", json={
        "text": "你好，欢迎使用Qwen3语音合成服务。", "instruct": "温柔甜美的年轻女声", "language": "Chinese"})
    assert response.status_code == 400
    err = response.json()["error"]
    assert "does not follow instructions" in err["message"] and err["code"] == "unsupported_capability"


@pytest.mark.parametrize("path, body", [
    ("/tts/voice_design", {"text": "你好", "instruct": "温柔女声", "language": "Chinese"}),
    ("/tts/voice_design", {"text": "Hello", "instruct": "Friendly male voice", "response_format": "base64"}),
    ("/tts/voice_design/batch", {"texts": ["你好", "Hello"], "instructs": ["温柔女声", "Friendly male voice"],
                                 "languages": ["Chinese", "English"]}),
])
def test_curl_examples_refused_with_the_reason(server, path, body):
    err = assert_openai_error(httpx.post(server.url + path, json=body, timeout=60), 400)
    assert "instructions" in err["message"]


@pytest.mark.parametrize("body, fragment", [
    ({"texts": ["a", "b"], "instructs": ["x"]}, "give one instruct per text"),
    ({"texts": ["a"], "instructs": ["x"], "languages": ["English", "Chinese"]}, "languages has 2 items"),
    ({"texts": [], "instructs": []}, "texts"),
])
def test_batch_shapes_are_checked(server, body, fragment):
    err = assert_openai_error(httpx.post(server.url + "/tts/voice_design/batch", json=body, timeout=30), 400)
    assert fragment in err["message"]


def test_missing_instruct_is_a_400(server):
    err = assert_openai_error(httpx.post(server.url + "/tts/voice_design", json={"text": "Hi"}, timeout=30), 400)
    assert err["param"] == "instruct"


def test_workers_spread_requests_over_replicas(server, transcribe):
    info = httpx.get(server.url + "/server_info", timeout=30).json()
    replicas = info["engine_stats"]["replicas"]
    assert len(replicas) == 2
    before = [r["served"] for r in replicas]
    # several segments each, so the four requests are surely in flight together (a lone short
    # request could finish before the next one arrives and, with a lopsided history, pick the
    # same replica every time)
    tail = " The juice of lemons makes fine punch. The boy was there when the sun rose."
    texts = [t + tail for t in ["Glue the sheet to the dark blue background.", "The box was thrown beside the parked truck.",
                                "It's easy to tell the depth of a well.", "Hello, this is a test of the speech server."]]

    def speak(text: str) -> bytes:
        r = httpx.post(server.url + "/v1/audio/speech", json={"model": "tts-1", "input": text, "voice": "joe",
                                                              "response_format": "wav", "stream": False}, timeout=120)
        assert r.status_code == 200, r.text
        return r.content

    with ThreadPoolExecutor(4) as pool:
        audios = list(pool.map(speak, texts))
    after = [r["served"] for r in httpx.get(server.url + "/server_info", timeout=30).json()["engine_stats"]["replicas"]]
    assert all(a > b for a, b in zip(after, before)), (before, after)
    for text, data in zip(texts, audios):
        assert wer(text, transcribe(decode(data, 16000))) <= 0.2
    assert "engine replica 1 using device" in server.log_path.read_text()
