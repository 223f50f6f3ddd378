"""Acceptance of the Qwen3-TTS self-hosting plan (seeds/001): its Go client's request against a real server
(with ``--result_cache_mb``), the real voice heard by speech recognition. Its routes' behaviour (health,
voices, speed, the result cache, 400s) is tested in-process: tests/serving/test_compat_selfhost.py."""

from __future__ import annotations

import base64

import httpx
import pytest

from flashtts.audio import decode

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


def test_go_client_request_is_heard(server, transcribe):
    """The Go client's request on the real voice: base64 WAV whose length is the answer's ``duration`` and
    whose words are the text (the answer's shape: tests/serving/test_compat_selfhost.py)."""
    r = httpx.post(server.url + "/api/tts/synthesize", json=_go_client_request(EN), timeout=120)
    assert r.status_code == 200, r.text
    body = r.json()
    wav = base64.b64decode(body["audio_base64"])  # `jq .audio_base64 -r | base64 -d > output.wav`
    assert abs(len(decode(wav, 24000)) / 24000 - body["duration"]) < 0.05
    assert wer(EN, transcribe(decode(wav, 16000))) <= 0.2
