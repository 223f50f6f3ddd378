"""The documents' requests that need a Qwen3-TTS engine (instructions, voice design, cloning), on tiny
random-weight checkpoints of each kind (tests/conftest.py's, built once per session): they answer audio of
the expected length (noise: random weights), and what a kind cannot do is a 400 saying what it can. All
in-process (a server start with the Qwen3 engine costs ~20 s here; the one real ``flashtts serve --engine
qwen3`` is tests/qwen3/test_http.py::test_flashtts_serve_qwen3_cli)."""

from __future__ import annotations

import base64
import io
import wave

import numpy as np
import pytest

from flashtts.audio import decode
from flashtts.config.settings import ServerConfig
from flashtts.engine import EngineConfig

from live import assert_openai_error
from support import app_client, need, unavailable

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def qwen_extra() -> None:
    """The qwen extra, imported when a test here runs (not at collection: make test-fast never pays for it)."""
    need("torch", "the qwen extra")
    try:
        from flashtts_engines.qwen3._compat import import_qwen_tts

        import_qwen_tts()
    except Exception as exc:  # the qwen extra is not installed (or broken: in CI that fails, never skips)
        unavailable(f"Qwen3-TTS engine unavailable: {type(exc).__name__}: {exc}")

FRAMES = 10  # fixed_frames: each segment is exactly 10 codec frames = 0.8 s
SEG = FRAMES * 0.08


def _opts() -> dict[str, str]:
    return {"fixed_frames": str(FRAMES), "threads": "1"}


def clip(seconds: float = 2.0, rate: int = 24000) -> bytes:
    """A voiced-sounding test clip (harmonics of 140 Hz with a syllable envelope) as WAV."""
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 8))
    samples = 0.3 * tone / np.abs(tone).max() * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def seconds(data: bytes, rate: int = 24000) -> float:
    return len(decode(data, rate)) / rate


def _config(path, tmp_path) -> ServerConfig:
    return ServerConfig(engine="qwen3", role_dir=tmp_path / "roles",
                        engine_config=EngineConfig(model_path=str(path), device="cpu", batch_size=8, extra=_opts()))


@pytest.fixture
def checkpoints(qwen3_checkpoints):
    return qwen3_checkpoints


# ---- seeds/000, 003, 004 on a VoiceDesign checkpoint ---------------------------------------------
async def test_voice_design_documents(checkpoints, tmp_path):
    """In-process (one engine load; the real ``flashtts serve --engine qwen3``: tests/qwen3/test_http.py)."""
    async with app_client(_config(checkpoints["voice_design"], tmp_path)) as client:
        # 000: the Python example
        r = await client.post("/tts/voice_design", json={
            "text": "你好，欢迎使用Qwen3语音合成服务。", "instruct": "温柔甜美的年轻女声", "language": "Chinese"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "audio/wav" and seconds(r.content) == pytest.approx(SEG, abs=0.01)
        # curl, base64 answer
        r = await client.post("/tts/voice_design", json={"text": "你好", "instruct": "温柔女声", "language": "Chinese",
                                                         "response_format": "base64"})
        body = r.json()
        assert set(body) == {"audio_base64", "sample_rate", "format"} and body["sample_rate"] == 24000
        assert seconds(base64.b64decode(body["audio_base64"])) == pytest.approx(SEG, abs=0.01)
        # batch
        r = await client.post("/tts/voice_design/batch", json={"texts": ["你好", "Hello"],
                                                               "instructs": ["温柔女声", "Friendly male voice"],
                                                               "languages": ["Chinese", "English"]})
        body = r.json()
        assert r.status_code == 200 and len(body["audios"]) == 2 and body["format"] == "wav"
        assert all(seconds(base64.b64decode(a)) == pytest.approx(SEG, abs=0.01) for a in body["audios"])
        assert "chinese" in (await client.get("/languages")).json()["languages"]
        # 003: voice attributes become a voice description
        r = await client.post("/stream-tts", json={"text": "Привет, мир!", "voice_attributes": {
            "gender": "female", "age": 25, "emotion": "happy"}})
        assert r.status_code == 200 and seconds(r.content) == pytest.approx(SEG, abs=0.01)
        # 004: instruct on a voice design checkpoint; cloning is refused
        r = await client.post("/inference_instruct", data={"tts_text": "Hello, I am a test", "spk_id": "中文女",
                                                           "instruct_text": "Speak with a cheerful tone"})
        assert r.status_code == 200, r.text
        assert seconds(r.content, 22050) == pytest.approx(SEG, abs=0.01)
        err = assert_openai_error(await client.post("/inference_zero_shot", data={"tts_text": "x", "prompt_text": "y"},
                                                    files={"prompt_wav": ("p.wav", clip(), "audio/wav")}), 400)
        assert "clone" in err["message"]


# ---- seeds/001, 003, 004 on a CustomVoice checkpoint -----------------------------------------------
async def test_custom_voice_documents(checkpoints, tmp_path):
    async with app_client(_config(checkpoints["custom_voice"], tmp_path)) as client:
        # 001: its curl example as is (Chinese, Vivian, an instruction)
        r = await client.post("/api/tts/synthesize", json={
            "text": "你好，欢迎使用 Qwen3-TTS 语音合成服务。", "language": "zh", "speaker": "Vivian",
            "instruct": "用开心的语气说"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["success"] and body["duration"] == pytest.approx(SEG, abs=0.01)
        assert seconds(base64.b64decode(body["audio_base64"])) == pytest.approx(SEG, abs=0.01)
        voices = {v["id"]: v for v in (await client.get("/api/voices")).json()["voices"]}
        assert voices["vivian"]["gender"] == "female" and voices["uncle_fu"]["gender"] == "male"
        # 003 with attributes: a preset plus an instruction
        r = await client.post("/tts", json={"text": "Hello", "format": "mp3", "voice_attributes": {
            "gender": "male", "age": 70, "emotion": "sad"}})
        assert r.status_code == 200 and seconds(r.content) == pytest.approx(SEG, abs=0.1)
        # 004: sft and instruct with CosyVoice speaker names
        for route, data in (("/inference_sft", {"tts_text": "你好", "spk_id": "中文女"}),
                            ("/inference_instruct",
                             {"tts_text": "你好", "spk_id": "中文男", "instruct_text": "慢一点"})):
            r = await client.request("GET", route, data=data)
            assert r.status_code == 200, r.text
            assert len(r.content) / 2 / 22050 == pytest.approx(SEG, abs=0.01)
        # 000: a CustomVoice checkpoint follows instructions with its default speaker
        r = await client.post("/tts/voice_design", json={"text": "Hi", "instruct": "warm voice"})
        assert r.status_code == 200


# ---- seeds/004 and 002 on a Base (clone) checkpoint ---------------------------------------------------
async def test_base_clones_prompt_audio(checkpoints, tmp_path):
    prompt = clip()
    async with app_client(_config(checkpoints["base"], tmp_path)) as client:
        for route, data in (("/inference_zero_shot",
                             {"tts_text": "希望你以后能够做的比我还好呦", "prompt_text": "希望你以后"}),
                            ("/inference_cross_lingual", {"tts_text": "Hello, this is a cross-lingual test"})):
            r = await client.post(route, data=data, files={"prompt_wav": ("prompt_audio.wav", prompt, "audio/wav")})
            assert r.status_code == 200, r.text
            assert r.content[:4] == b"RIFF" and seconds(r.content, 22050) == pytest.approx(SEG, abs=0.01)
        r = await client.post("/inference_instruct2", data={"tts_text": "Hi", "instruct_text": "cheerful"},
                              files={"prompt_wav": ("prompt_audio.wav", prompt, "audio/wav")})
        assert_openai_error(r, 400)
        assert "instructions" in r.json()["error"]["message"]
        r = await client.post("/inference_sft", data={"tts_text": "Hi", "spk_id": "中文女"})
        assert_openai_error(r, 400)
        r = await client.post("/clone_voice", data={"text": "你好，世界", "stream": "false", "response_format": "wav"},
                              files={"reference_audio_file": ("ref.wav", prompt, "audio/wav")})
        assert r.status_code == 200 and seconds(r.content) == pytest.approx(SEG, abs=0.01)
