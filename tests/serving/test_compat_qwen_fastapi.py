"""The Qwen3-TTS FastAPI deployment's API (seeds/000) in-process on FakeEngines: its health and languages,
voice design on an engine that can (the file, base64, a batch: languages mapped to the engine's spelling) and
a clear 400 on one that cannot, batch shapes checked. ``--workers 2`` on a real server and the real voice:
tests/compat/test_qwen_fastapi.py."""

from __future__ import annotations

import base64

import pytest

from flashtts.engine import Capabilities

from compat_helpers import wav_params
from fakes import FakeEngine
from support import assert_openai_error


async def test_health_and_languages(fake_client):
    body = (await fake_client.get("/health")).json()
    assert {"status": "healthy", "model_loaded": True, "cuda_available": False}.items() <= body.items()
    r = await fake_client.get("/languages")
    assert r.status_code == 200 and r.json() == {"languages": ["auto", "en"]}


async def test_voice_design_on_an_engine_that_designs_voices(serve):
    engine = FakeEngine(Capabilities(voice_design=True, speed=True), voices=(),
                        languages=("auto", "chinese", "english"))
    async with serve(engine) as client:
        # the document's Python example
        r = await client.post("/tts/voice_design", json={
            "text": "你好，欢迎使用Qwen3语音合成服务。", "instruct": "温柔甜美的年轻女声", "language": "Chinese"})
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav", r.text
        assert wav_params(r.content) == (1, 2, 24000)
        as_json = await client.post("/tts/voice_design", json={"text": "Hello", "instruct": "Friendly male voice",
                                                               "response_format": "base64", "language": "en"})
        assert as_json.status_code == 200
        assert base64.b64decode(as_json.json()["audio_base64"])[:4] == b"RIFF"
        batch = await client.post("/tts/voice_design/batch", json={
            "texts": ["你好", "Hello"], "instructs": ["温柔女声", "Friendly male voice"],
            "languages": ["zh", "English"]})
        assert batch.status_code == 200 and len(batch.json()["audios"]) == 2
    assert [(q.instructions, q.language) for q in engine.requests] == [
        ("温柔甜美的年轻女声", "chinese"), ("Friendly male voice", "english"), ("温柔女声", "chinese"),
        ("Friendly male voice", "english")]


async def test_python_example_needs_a_voice_design_engine(fake_client):
    r = await fake_client.post("/tts/voice_design", json={
        "text": "你好，欢迎使用Qwen3语音合成服务。", "instruct": "温柔甜美的年轻女声", "language": "Chinese"})
    err = assert_openai_error(r, 400)
    assert "does not follow instructions" in err["message"] and err["code"] == "unsupported_capability"


@pytest.mark.parametrize("path, body", [
    ("/tts/voice_design", {"text": "你好", "instruct": "温柔女声", "language": "Chinese"}),
    ("/tts/voice_design", {"text": "Hello", "instruct": "Friendly male voice", "response_format": "base64"}),
    ("/tts/voice_design/batch", {"texts": ["你好", "Hello"], "instructs": ["温柔女声", "Friendly male voice"],
                                 "languages": ["Chinese", "English"]}),
])
async def test_curl_examples_refused_with_the_reason(fake_client, path, body):
    err = assert_openai_error(await fake_client.post(path, json=body), 400)
    assert "instructions" in err["message"]


@pytest.mark.parametrize("body, fragment", [
    ({"texts": ["a", "b"], "instructs": ["x"]}, "give one instruct per text"),
    ({"texts": ["a"], "instructs": ["x"], "languages": ["English", "Chinese"]}, "languages has 2 items"),
    ({"texts": [], "instructs": []}, "texts"),
])
async def test_batch_shapes_are_checked(fake_client, body, fragment):
    err = assert_openai_error(await fake_client.post("/tts/voice_design/batch", json=body), 400)
    assert fragment in err["message"]


async def test_missing_instruct_is_a_400(fake_client):
    err = assert_openai_error(await fake_client.post("/tts/voice_design", json={"text": "Hi"}), 400)
    assert err["param"] == "instruct"
