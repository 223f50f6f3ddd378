"""CosyVoice API (seeds/004): its curl and ``requests`` examples, and its ``client.py`` (GET with form
fields, body read as int16 PCM and saved at 22,050 Hz), against a real server; ``flashtts client``."""

from __future__ import annotations

import subprocess
import sys

import httpx
import numpy as np
import pytest
import requests

from compat_helpers import save_pcm_as_wav, wav_params
from support import ROOT, wer
from flashtts.audio import decode
from live import assert_openai_error, serving

pytestmark = pytest.mark.slow

EN = "The box was thrown beside the parked truck. The juice of lemons makes fine punch."  # Piper is random: one misheard word of 14 stays under 0.2
DOC_EN = "Hello, I am a test"  # the document's instruct example
ZH = "你好，我是通义千问语音合成大模型，请问有什么可以帮您的吗？"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cosyvoice")
    with serving(tmp, "--role_dir", str(tmp / "roles")) as s:
        yield s


@pytest.fixture(scope="module")
def prompt_wav(server, tmp_path_factory):
    """A real speech clip to use as prompt audio."""
    r = httpx.post(server.url + "/v1/audio/speech", json={"input": "Glue the sheet to the dark blue background.",
                                                           "voice": "joe", "response_format": "wav", "stream": False},
                   timeout=120)
    assert r.status_code == 200
    path = tmp_path_factory.mktemp("prompt") / "prompt_audio.wav"
    path.write_bytes(r.content)
    return path


def official_client(url: str, payload: dict, files=None) -> bytes:
    """CosyVoice's runtime/python/fastapi/client.py: GET with form data, streamed, bytes collected."""
    response = requests.request("GET", url, data=payload, files=files, stream=True)
    assert response.status_code == 200, response.text
    tts_audio = b""
    for r in response.iter_content(chunk_size=16000):
        tts_audio += r
    return tts_audio


def test_official_client_sft_saves_a_playable_file(server, tmp_path, transcribe):
    body = official_client(server.url + "/inference_sft", {"tts_text": EN, "spk_id": "英文男"})
    out = tmp_path / "demo.wav"
    save_pcm_as_wav(body, out, 22050)  # torch.from_numpy(np.frombuffer(.., int16)); torchaudio.save(.., 22050)
    samples = decode(out.read_bytes(), 16000)
    assert 0.5 < len(samples) / 16000 < 5
    assert wer(EN, transcribe(samples)) <= 0.2
    # the body is raw PCM (no header) at 22,050 Hz: as long as the audio is
    assert body[:4] != b"RIFF"
    assert abs(len(body) / 2 / 22050 - len(samples) / 16000) < 0.01


def test_official_client_sft_chinese_default_is_refused_on_an_english_voice(server):
    # the client's default text and speaker: Piper's English voice would only spell out "Chinese letter"
    response = requests.request("GET", server.url + "/inference_sft", data={"tts_text": ZH, "spk_id": "中文女"},
                                stream=True)
    err = assert_openai_error(response, 400)
    assert err["param"] == "tts_text" and "Chinese" in err["message"]


def test_requests_example_sft_post_saves_a_wav(server, tmp_path, transcribe):
    # the document's Python requests example for /inference_sft
    url = server.url + "/inference_sft"
    payload = {"tts_text": EN, "spk_id": "中文女"}
    response = requests.post(url, data=payload, stream=True)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["x-custom-header-samplerate"] == "22050"
    with open(tmp_path / "output.wav", "wb") as f:
        for chunk in response.iter_content(chunk_size=8192):
            if chunk:
                f.write(chunk)
    data = (tmp_path / "output.wav").read_bytes()
    assert wav_params(data) == (1, 2, 22050)
    assert wer(EN, transcribe(decode(data, 16000))) <= 0.2


def test_curl_example_multipart_sft(server):
    # curl -X POST -F tts_text=... -F spk_id=中文女 --output output.wav (multipart/form-data)
    r = httpx.post(server.url + "/inference_sft", files={"tts_text": (None, EN), "spk_id": (None, "中文女")}, timeout=120)
    assert r.status_code == 200, r.text
    assert r.content[:4] == b"RIFF"
    assert len(decode(r.content, 22050)) / 22050 > 1.0


def test_format_field_overrides_the_method_default(server):
    raw = httpx.post(server.url + "/inference_sft", data={"tts_text": EN, "spk_id": "中文女", "format": "pcm"},
                     timeout=120)
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/octet-stream"
    wav = httpx.post(server.url + "/inference_sft", data={"tts_text": EN, "spk_id": "中文女"}, timeout=120)
    assert raw.content[:4] != b"RIFF" and wav.content[:4] == b"RIFF"
    raw_seconds = len(raw.content) / 2 / 22050
    wav_seconds = len(decode(wav.content, 22050)) / 22050
    assert 0.7 < raw_seconds / wav_seconds < 1.4  # the same speech (Piper varies timing a little per run)
    assert np.abs(np.frombuffer(raw.content, dtype=np.int16)).max() > 1000


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route, payload, with_prompt, reason", [
    ("/inference_zero_shot", {"tts_text": "希望你以后能够做的比我还好呦", "prompt_text": "希望你以后能够做的比我还好呦"}, True, "clone"),
    ("/inference_cross_lingual", {"tts_text": "Hello, this is a cross-lingual test"}, True, "clone"),
    ("/inference_instruct", {"tts_text": DOC_EN, "spk_id": "中文女",
                             "instruct_text": "Speak with a cheerful and energetic tone"}, False, "instructions"),
    ("/inference_instruct2", {"tts_text": DOC_EN, "instruct_text": "Speak with a cheerful and energetic tone"}, True,
     "clone"),
])
def test_examples_that_need_clone_or_instructions_are_refused_on_piper(server, prompt_wav, method, route, payload,
                                                                       with_prompt, reason):
    files = {"prompt_wav": ("prompt_audio.wav", prompt_wav.read_bytes(), "audio/wav")} if with_prompt else None
    r = httpx.request(method, server.url + route, data=payload, files=files, timeout=60)
    err = assert_openai_error(r, 400)
    assert f"supports {reason}" in err["message"] and "piper" in err["message"], err
    assert err["code"] == "unsupported_capability"


@pytest.mark.parametrize("route, payload, param", [
    ("/inference_sft", {"tts_text": EN}, "spk_id"),
    ("/inference_sft", {"spk_id": "中文女"}, "tts_text"),
    ("/inference_sft", {"tts_text": EN, "spk_id": "no_such_speaker"}, "spk_id"),
    ("/inference_zero_shot", {"tts_text": EN, "prompt_text": "x"}, "prompt_wav"),
])
def test_missing_or_unknown_fields_are_clear_400s(server, route, payload, param):
    err = assert_openai_error(httpx.post(server.url + route, data=payload, timeout=30), 400)
    assert err["param"] == param, err


def _client(server, *args: str) -> subprocess.CompletedProcess:
    port = server.url.rsplit(":", 1)[1]
    return subprocess.run([sys.executable, "-m", "flashtts", "client", "--host", "127.0.0.1", "--port", port, *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_flashtts_client_sft(server, tmp_path, transcribe):
    out = tmp_path / "output_sft.wav"
    done = _client(server, "--mode", "sft", "--tts_text", EN, "--spk_id", "中文女", "--tts_wav", str(out))
    assert done.returncode == 0, done.stderr
    data = out.read_bytes()
    assert wav_params(data) == (1, 2, 22050)
    assert wer(EN, transcribe(decode(data, 16000))) <= 0.2


def test_flashtts_client_reports_refusals(server, tmp_path, prompt_wav):
    done = _client(server, "--mode", "zero_shot", "--prompt_wav", str(prompt_wav), "--tts_wav", str(tmp_path / "x.wav"))
    assert done.returncode == 1
    assert "HTTP 400" in done.stderr and "clone" in done.stderr
    assert not (tmp_path / "x.wav").exists()
    done = _client(server, "--mode", "nonsense")
    assert done.returncode == 2 and "--mode must be one of" in done.stderr
