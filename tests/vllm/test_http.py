"""Acceptance 2: ``flashtts serve --engine qwen3 --backend vllm`` in a real process answers
``/v1/audio/speech`` (complete and streamed) and ``/clone_voice`` with the audio that
``--backend torch`` gives for the same greedy request (the same app in-process on the torch backend: the
same routes and encoders, without a second process to start). One server, on the Base checkpoint: speech in
a role made from a clip, and ``/clone_voice``."""

from __future__ import annotations

import io
import wave

import httpx
import numpy as np
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("vllm_installed"),  # skipped where vLLM is not installed (required by make test, CI)
]


OPTIONS = {"threads": "1", "kv_cache_gib": "1"}


def serve(live_server, path, backend: str, tmp_path):
    return live_server("--engine", "qwen3", "--model_path", str(path), "--backend", backend, "--device", "cpu",
                       "--dtype", "float32", "--batch_size", "8", "--role_dir", str(tmp_path / f"roles-{backend}"),
                       *[a for k, v in OPTIONS.items() for a in ("--engine_opt", f"{k}={v}")])


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


TEXT = "Hello world, this is a cloned voice."


async def _ask_all(client: httpx.AsyncClient) -> tuple[list[np.ndarray], np.ndarray, bytes]:
    """Clones with ``/clone_voice`` (in-context: with the clip's transcript; x-vector: without), a role from the
    clip (``/v1/audio/voices``), and ``/v1/audio/speech`` in that role, complete (pcm) and streamed (wav)."""
    clones = []
    for transcript in ({"reference_text": "Hello world."}, {}):
        form = {"text": TEXT, **transcript, "response_format": "wav", "temperature": "0", "max_tokens": "20"}
        cloned = await client.post("/clone_voice", data=form,
                                   files={"reference_audio_file": ("ref.wav", clip_wav(), "audio/wav")})
        assert cloned.status_code == 200, cloned.text[:500]
        clones.append(wav_samples(cloned.content))
    role = await client.post("/v1/audio/voices", data={"name": "ref", "reference_text": "Hello world."},
                             files={"audio_sample": ("ref.wav", clip_wav(), "audio/wav")})
    assert role.status_code == 200, role.text[:500]
    speech = {"model": "tts-1", "input": TEXT, "voice": "ref", "response_format": "pcm", "temperature": 0,
              "max_tokens": 24, "stream": False}
    complete = await client.post("/v1/audio/speech", json=speech)
    streamed = await client.post("/v1/audio/speech", json={**speech, "stream": True, "response_format": "wav"})
    assert streamed.status_code == 200 and streamed.headers.get("x-request-id")
    assert float(complete.headers["x-audio-duration"]) == pytest.approx(len(complete.content) / 48000, abs=1e-3)
    return clones, pcm(complete), streamed.content


async def test_speech_and_clone_over_http_with_backend_vllm(vllm_checkpoints, live_server, tmp_path):
    """One real vLLM server on the Base checkpoint (cloning, and speech in a role made from a clip) answers with
    the samples ``--backend torch`` gives through the same app in-process (CustomVoice's frames on vLLM:
    tests/vllm/test_engine.py)."""
    from flashtts.config.settings import ServerConfig
    from flashtts.engine import EngineConfig

    from support import app_client

    ck = vllm_checkpoints["base"]
    config = ServerConfig(engine="qwen3", role_dir=tmp_path / "roles-torch", engine_config=EngineConfig(
        model_path=str(ck), backend="torch", device="cpu", dtype="float32", batch_size=8, extra=OPTIONS))
    async with app_client(config) as client:
        want_clone, want_speech, _ = await _ask_all(client)
    server = serve(live_server, ck, "vllm", tmp_path)
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
        got_clone, got_speech, streamed = await _ask_all(client)
        info = (await client.get("/server_info")).json()
    for got, want in zip(got_clone, want_clone, strict=True):  # in-context and x-vector cloning
        assert_same_audio(got, want)
    assert_same_audio(got_speech, want_speech)
    with wave.open(io.BytesIO(streamed)) as w:
        assert w.getframerate() == 24000 and w.getnframes() > 0
    assert info["engine_stats"]["backend"] == "vllm", info["engine_stats"]
