"""Acceptance of CosyVoice's API (seeds/004): its ``requests`` example and its ``client.py`` (GET with form
fields, body read as int16 PCM and saved at 22,050 Hz) against a real server and the real voice, heard by
speech recognition; ``flashtts client``. The request mapping (formats, refusals, missing fields) is tested
in-process: tests/serving/test_compat_cosyvoice.py."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from flashtts.audio import decode

from compat_helpers import save_pcm_as_wav, wav_params
from fakes import tone_wav
from support import ROOT, wer

pytestmark = pytest.mark.slow

# Piper is random: one misheard word of 14 stays under 0.2
EN = "The box was thrown beside the parked truck. The juice of lemons makes fine punch."


@pytest.fixture(scope="module")
def server(piper_server):
    """The session's shared Piper server (tests/conftest.py)."""
    return piper_server


@pytest.fixture(scope="module")
def prompt_wav(tmp_path_factory):
    """A clip to use as prompt audio."""
    path = tmp_path_factory.mktemp("prompt") / "prompt_audio.wav"
    path.write_bytes(tone_wav(2.0))
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
