"""Acceptance of the Qwen3-TTS self-hosting plan (seeds/001): its Go client's request against a real server
(with ``--result_cache_mb``), the real voice heard by speech recognition. Its routes' behaviour (health,
voices, speed, the result cache, 400s) is tested in-process: tests/serving/test_compat_selfhost.py."""

from __future__ import annotations

import base64

import httpx
import pytest

from flashtts.audio import decode

from compat_helpers import wav_params
from support import wer

pytestmark = pytest.mark.slow

EN = "The box was thrown beside the parked truck."


@pytest.fixture(scope="module")
def server(piper_server):
    """The session's shared Piper server (tests/conftest.py)."""
    return piper_server


def _go_client_request(text: str, **extra) -> dict:
    # what the document's Go client sends: Qwen3Request with EnableStreaming false, no instruct without emotion
    return {"text": text, "language": "en", "speaker": "Vivian", "enable_streaming": False, **extra}


def test_go_client_request_returns_base64_wav(server, transcribe):
    r = httpx.post(server.url + "/api/tts/synthesize", json=_go_client_request(EN), timeout=120)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"success", "audio_url", "audio_base64", "duration", "sample_rate", "processing_time",
                         "message"}
    assert body["success"] is True and body["audio_url"] is None and body["message"] is None
    assert body["sample_rate"] == 24000 and body["processing_time"] > 0
    wav = base64.b64decode(body["audio_base64"])  # `jq .audio_base64 -r | base64 -d > output.wav`
    assert wav_params(wav) == (1, 2, 24000)
    samples = decode(wav, 24000)
    assert abs(len(samples) / 24000 - body["duration"]) < 0.05
    assert wer(EN, transcribe(decode(wav, 16000))) <= 0.2
