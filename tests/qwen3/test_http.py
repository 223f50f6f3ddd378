"""Acceptance 2 (and 5 over HTTP): each Qwen3-TTS checkpoint kind end to end through the app, on tiny
checkpoints; every response format decodes to the expected length; the wrong capability for a kind is
a 400 that says what the checkpoint can do; health answers while a long generation runs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import time
import wave

import av
import httpx
import numpy as np
import pytest
from asgi_lifespan import LifespanManager

from flashtts.config.settings import ServerConfig
from flashtts.engine import EngineConfig
from flashtts.http.app import create_app

from .qwen3_helpers import reference_audio

pytestmark = pytest.mark.slow

FRAMES = 10  # fixed_frames: every segment is exactly 10 codec frames = 0.8 s
SEG = FRAMES * 0.08
FORMATS = ["wav", "pcm", "mp3", "opus", "aac", "flac"]


@contextlib.asynccontextmanager
async def qwen_app(path, tmp_path, **extra):
    cfg = ServerConfig(
        engine="qwen3", role_dir=tmp_path / "roles",
        engine_config=EngineConfig(model_path=str(path), backend="torch", device="cpu", batch_size=8,
                                   wait_timeout=0.01,
                                   extra={"fixed_frames": str(FRAMES), "threads": "1", **extra}))
    app = create_app(cfg)
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=120) as client:
            yield client


def seconds_of(fmt: str, data: bytes) -> float:
    if fmt == "pcm":
        return len(data) / 2 / 24000
    with av.open(io.BytesIO(data)) as c:
        s = c.streams.audio[0]
        return sum(f.samples for f in c.decode(s)) / s.codec_context.sample_rate


def wav_bytes(samples: np.ndarray, rate: int = 24000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def assert_400_says(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 400, r.text[:500]
    msg = r.json()["error"]["message"]
    for w in words:
        assert w in msg, msg


async def check_formats(client: httpx.AsyncClient, body: dict, segments: int = 1) -> None:
    for fmt in FORMATS:
        r = await client.post("/v1/audio/speech", json={**body, "response_format": fmt})
        assert r.status_code == 200, (fmt, r.text[:300])
        # lossless formats: exact; lossy ones pad to whole codec frames (mp3: 1152 samples) plus priming
        tol = 1e-3 if fmt in ("wav", "pcm", "flac") else 0.1
        assert seconds_of(fmt, r.content) == pytest.approx(segments * SEG, abs=tol), fmt
        if "x-audio-duration" in r.headers:
            assert float(r.headers["x-audio-duration"]) == pytest.approx(segments * SEG, abs=1e-3)


async def test_custom_voice_over_http(checkpoints, tmp_path):
    async with qwen_app(checkpoints["custom_voice"], tmp_path) as client:
        voices = (await client.get("/v1/audio/voices")).json()
        ids = {v["id"] for v in voices.get("voices", voices.get("data", []))}
        assert {"ryan", "vivian", "serena"} <= ids
        info = (await client.get("/server_info")).json()
        assert "qwen3" in str(info)
        await check_formats(client, {"model": "tts-1", "input": "Hello world.", "voice": "ryan",
                                     "instructions": "Speak warmly."})
        r = await client.post("/speak", json={"name": "vivian", "text": "Hello world.", "response_format": "wav"})
        assert r.status_code == 200 and seconds_of("wav", r.content) == pytest.approx(SEG, abs=1e-3)
        r = await client.post("/multi_speak", json={"text": "<role:ryan>Hello world.<role:serena>Good morning.",
                                                    "response_format": "wav"})
        assert r.status_code == 200 and seconds_of("wav", r.content) == pytest.approx(2 * SEG, abs=1e-3)
        # streamed PCM arrives complete
        r = await client.post("/v1/audio/speech", json={"model": "x", "input": "Hello world.", "voice": "ryan",
                                                        "response_format": "pcm", "stream": True})
        assert r.status_code == 200 and seconds_of("pcm", r.content) == pytest.approx(SEG, abs=1e-3)
        # wrong capability: cloning on CustomVoice, with what it can do
        r = await client.post("/clone_voice", data={"text": "Hello world.",
                                                   "reference_audio": base64.b64encode(
                                                       wav_bytes(reference_audio().samples)).decode()})
        assert_400_says(r, "clone")
        r = await client.post("/v1/audio/speech", json={"model": "x", "input": "Hi.", "voice": "nobody"})
        assert_400_says(r, "nobody", "ryan")
        # issue 21: <phoneme> needs an engine that takes phonemes; inline IPA falls back to the written word
        r = await client.post("/v1/audio/speech", json={"model": "x", "voice": "ryan", "input": (
            '<speak>Say <phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato</phoneme>.</speak>')})
        assert_400_says(r, "qwen3", "cannot take phonemes", "it supports")
        r = await client.post("/v1/audio/speech", json={"model": "x", "voice": "ryan", "response_format": "wav",
                                                        "input": "Say [tomato](/təˈmɑːtoʊ/)."})
        assert r.status_code == 200 and "pronunciation-ipa" in r.headers["x-ssml-ignored"]


async def test_voice_design_over_http(checkpoints, tmp_path):
    async with qwen_app(checkpoints["voice_design"], tmp_path) as client:
        await check_formats(client, {"model": "tts-1", "input": "Hello world.", "voice": "my-designed-voice",
                                     "instructions": "A bright young female voice, speaking fast."})
        r = await client.post("/clone_voice", data={"text": "Hello world.",
                                                   "reference_audio": base64.b64encode(
                                                       wav_bytes(reference_audio().samples)).decode()})
        assert_400_says(r, "clone")


async def test_base_clone_over_http(checkpoints, tmp_path):
    clip = wav_bytes(reference_audio(seconds=1.6).samples)
    async with qwen_app(checkpoints["base"], tmp_path) as client:
        # a role from a reference clip + transcript, then every route speaks with it
        r = await client.post("/add_speaker", data={"name": "alice", "reference_text": "Hello world.",
                                                   "audio": base64.b64encode(clip).decode()})
        assert r.status_code == 200, r.text
        await check_formats(client, {"model": "tts-1", "input": "Good morning to you.", "voice": "alice"})
        r = await client.post("/speak", json={"name": "alice", "text": "Good morning.", "response_format": "wav"})
        assert r.status_code == 200 and seconds_of("wav", r.content) == pytest.approx(SEG, abs=1e-3)
        r = await client.post("/add_speaker", data={"name": "bob", "audio": base64.b64encode(
            wav_bytes(reference_audio(seed=8).samples)).decode()})  # no transcript: x-vector cloning
        assert r.status_code == 200, r.text
        r = await client.post("/multi_speak", json={"text": "<role:alice>Hello world.<role:bob>Good morning.",
                                                    "response_format": "wav"})
        assert r.status_code == 200 and seconds_of("wav", r.content) == pytest.approx(2 * SEG, abs=1e-3)
        r = await client.post("/clone_voice", data={"text": "Hello world.", "reference_text": "Hello world.",
                                                   "response_format": "flac"},
                              files={"reference_audio_file": ("ref.wav", clip, "audio/wav")})
        assert r.status_code == 200, r.text[:300]
        assert seconds_of("flac", r.content) == pytest.approx(SEG, abs=1e-3)
        # the role's clone prompt was encoded once and stored in its folder
        assert list((tmp_path / "roles" / "alice").glob("qwen3-clone-*.pt"))
        # wrong capabilities on Base: preset voices and instructions, answered with what it can do
        r = await client.post("/speak", json={"name": "alice", "text": "Hi.", "instructions": "Sound happy."})
        assert_400_says(r, "instructions", "cloning")
        # OpenAI's instructions are a hint: ignored, and the answer says so (docs/clients.md)
        r = await client.post("/v1/audio/speech", json={"model": "x", "input": "Hi.", "voice": "alice",
                                                        "instructions": "Sound happy.", "response_format": "wav"})
        assert r.status_code == 200 and r.headers["x-instructions-ignored"] == "true"
        r = await client.post("/v1/audio/speech", json={"model": "x", "input": "Hi.", "voice": "ryan"})
        assert r.status_code == 400


async def test_health_answers_during_a_long_generation(checkpoints, tmp_path):
    async with qwen_app(checkpoints["custom_voice"], tmp_path, fixed_frames="100") as client:
        long = asyncio.create_task(client.post("/v1/audio/speech", json={
            "model": "x", "input": "Hello world.", "voice": "ryan", "response_format": "pcm"}))
        await asyncio.sleep(0.3)
        worst = 0.0
        polls = 0
        while not long.done():
            t0 = time.perf_counter()
            r = await client.get("/health")
            worst = max(worst, time.perf_counter() - t0)
            assert r.status_code == 200
            polls += 1
            await asyncio.sleep(0.05)
        r = await long
        assert r.status_code == 200 and seconds_of("pcm", r.content) == pytest.approx(100 * 0.08, abs=1e-3)
        assert polls >= 5 and worst < 0.5, (polls, worst)


def test_flashtts_serve_qwen3_cli(checkpoints, live_server):
    """``flashtts serve --engine qwen3 --model_path DIR --backend torch --device cpu`` in a real process."""
    server = live_server("--engine", "qwen3", "--model_path", str(checkpoints["custom_voice"]), "--backend", "torch",
                         "--device", "cpu", "--engine_opt", f"fixed_frames={FRAMES}", "--engine_opt", "threads=1")
    r = httpx.post(server.url + "/v1/audio/speech", timeout=120,
                   json={"model": "tts-1", "input": "Hello world.", "voice": "aiden", "response_format": "wav"})
    assert r.status_code == 200, r.text[:300]
    assert seconds_of("wav", r.content) == pytest.approx(SEG, abs=1e-3)
    info = httpx.get(server.url + "/server_info", timeout=30).json()
    assert "CustomVoice" in str(info)


async def test_eight_concurrent_http_requests_share_decode_steps(checkpoints, tmp_path):
    async with qwen_app(checkpoints["custom_voice"], tmp_path, fixed_frames="40") as client:
        bodies = [{"model": "x", "input": f"Request number {i}.", "voice": "ryan", "response_format": "pcm",
                   "seed": i} for i in range(8)]
        rs = await asyncio.gather(*(client.post("/v1/audio/speech", json=b) for b in bodies))
        assert all(r.status_code == 200 and seconds_of("pcm", r.content) == pytest.approx(3.2, abs=1e-3)
                   for r in rs)
        stats = (await client.get("/server_info")).json()["stats"]
        assert stats["max_batch_size"] == 8
        assert stats["batches_total"] < 2 * 40  # 8 x 40 frames in shared steps
        prom = (await client.get("/metrics")).text
        assert "flashtts_max_batch_size 8" in prom
