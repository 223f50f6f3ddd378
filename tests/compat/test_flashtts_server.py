"""FlashTTS's server (seeds/002): started with the document's own launch options (CPU devices instead
of CUDA), its request examples against it; each accepted option is logged as used or not used."""

from __future__ import annotations

import httpx
import pytest

from flashtts.audio import decode

from live import assert_openai_error, serving
from support import wer

pytestmark = pytest.mark.slow

KEY = "YOUR_API_KEY"
AUTH = {"Authorization": f"Bearer {KEY}"}
DOC_OPTIONS = ("--llm_device", "cpu", "--tokenizer_device", "cpu", "--detokenizer_device", "cpu",
               "--wav2vec_attn_implementation", "sdpa", "--llm_attn_implementation", "sdpa",
               "--torch_dtype", "float32", "--max_length", "32768", "--llm_gpu_memory_utilization", "0.6",
               "--llm_batch_size", "4", "--cache_implementation", "static", "--seed", "0", "--batch_size", "1",
               "--wait_timeout", "0.01")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flashtts")
    with serving(tmp, "--role_dir", str(tmp / "roles"), "--api_key", KEY, *DOC_OPTIONS) as s:
        yield s


def test_launch_options_are_accepted_and_explained(server):
    log = server.log_path.read_text()
    assert "--tokenizer_device cpu accepted for FlashTTS compatibility and not used" in log
    assert "--wav2vec_attn_implementation sdpa accepted" in log
    assert "--llm_attn_implementation sdpa: engine option attn=sdpa" in log
    assert "--llm_batch_size 4" in log
    info = httpx.get(server.url + "/server_info", headers=AUTH, timeout=30).json()
    assert info["settings"]["batch_size"] == 4 and info["settings"]["device"] == "cpu"


def test_clone_voice_curl_example(server, tmp_path):
    ref = httpx.post(server.url + "/v1/audio/speech", headers=AUTH, timeout=120, json={
        "input": "Glue the sheet to the dark blue background.", "voice": "joe", "response_format": "wav",
        "stream": False})
    assert ref.status_code == 200
    r = httpx.post(server.url + "/clone_voice", headers=AUTH, timeout=60,
                   data={"text": "你好，世界", "stream": "false", "response_format": "wav"},
                   files={"reference_audio_file": ("ref.wav", ref.content, "audio/wav")})
    err = assert_openai_error(r, 400)  # Piper cannot clone; a Qwen3-TTS Base checkpoint can
    assert "clone" in err["message"]
    assert_openai_error(httpx.post(server.url + "/clone_voice", data={"text": "x"}, timeout=30), 401)


def test_speak_example(server, transcribe):
    text = "The box was thrown beside the parked truck."
    r = httpx.post(server.url + "/speak", headers=AUTH, timeout=120, json={
        "name": "narrator", "text": text, "pitch": "moderate", "speed": "moderate", "temperature": 0.9, "top_k": 50,
        "top_p": 0.95, "repetition_penalty": 1.0, "max_tokens": 4096, "length_threshold": 50, "window_size": 50,
        "stream": False, "response_format": "mp3"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/mpeg"
    assert wer(text, transcribe(decode(r.content, 16000))) <= 0.2


def test_roles_and_multi_speak_examples(server):
    for name in ("female", "male"):
        r = httpx.post(server.url + "/add_speaker", headers=AUTH, data={"name": name, "voice": "joe"}, timeout=30)
        assert r.status_code == 200 and r.json() == {"success": True, "role": name}, r.text
    roles = httpx.get(server.url + "/audio_roles", headers=AUTH, timeout=30).json()
    assert roles["success"] is True and {"female", "male"} <= set(roles["roles"])
    r = httpx.post(server.url + "/multi_speak", headers=AUTH, timeout=120, json={
        "text": "<role:female> Hello there! <role:male> I am fine, thank you!", "temperature": 0.8, "top_k": 50,
        "top_p": 0.95, "repetition_penalty": 1.0, "max_tokens": 4096, "length_threshold": 50, "window_size": 50,
        "stream": True, "response_format": "wav"})
    assert r.status_code == 200 and r.content[:4] == b"RIFF"
    assert len(decode(r.content, 24000)) / 24000 > 1.0
    r = httpx.post(server.url + "/delete_speaker", headers=AUTH, data={"name": "male"}, timeout=30)
    assert r.json() == {"success": True, "role": "male"}
