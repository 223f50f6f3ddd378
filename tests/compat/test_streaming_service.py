"""Acceptance of the Qwen-TTS streaming service (seeds/003): its Python example and its formats against a real
server and the real voice, heard by speech recognition, and ``/metrics`` counters (the engine's batches
included) that move as requests are served. Its routes' behaviour (voice attributes, formats, 400s) is tested
in-process: tests/serving/test_compat_streaming_service.py."""

from __future__ import annotations

import time

import httpx
import pytest
import requests

from flashtts.audio import decode

from compat_helpers import scrape
from support import wer

pytestmark = pytest.mark.slow

EN = "The boy was there when the sun rose."  # heard right 100 of 100 times (tests/support.py)


@pytest.fixture(scope="module")
def server(piper_server):
    """The session's shared Piper server (tests/conftest.py)."""
    return piper_server


def test_python_example_streams_a_playable_wav(server, tmp_path):
    # the document's Python example, verbatim but for the address
    response = requests.post(
        server.url + "/stream-tts",
        json={"text": "Привет, мир!", "voice_attributes": {"gender": "female", "age": 25, "emotion": "happy"}},
        stream=True,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    out = tmp_path / "output.wav"
    with open(out, "wb") as f:
        for chunk in response.iter_content(chunk_size=8192):
            f.write(chunk)
    samples = decode(out.read_bytes(), 16000)
    assert len(samples) / 16000 > 0.3


@pytest.mark.parametrize("fmt, media", [("wav", "audio/wav"), ("mp3", "audio/mpeg"), ("ogg", "audio/ogg")])
def test_full_tts_formats_are_intelligible(server, transcribe, fmt, media):
    r = httpx.post(server.url + "/tts", json={"text": EN, "format": fmt,
                                               "voice_attributes": {"gender": "male", "age": 30, "emotion": "neutral"}},
                   timeout=120)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media
    assert float(r.headers["x-audio-duration"]) > 1.0
    assert wer(EN, transcribe(decode(r.content, 16000))) <= 0.2


def test_metrics_counters_move(server):
    before = scrape(server.url)
    for name in ("flashtts_requests_total", "flashtts_http_errors_total", "flashtts_requests_aborted_total",
                 "flashtts_audio_seconds_total", "flashtts_time_to_first_audio_seconds_count",
                 "flashtts_batch_size_count", "flashtts_queue_depth", "flashtts_active_requests",
                 "flashtts_requests_failed_total", "flashtts_request_latency_seconds_count"):
        assert name in before, name

    ok = httpx.post(server.url + "/stream-tts", json={"text": EN}, timeout=120)
    assert ok.status_code == 200
    bad = httpx.post(server.url + "/stream-tts", json={"text": "Hi", "voice_attributes": {"age": 500}}, timeout=30)
    assert bad.status_code == 400

    # a client that hangs up after the first chunk of a long text: the request is aborted
    long_text = " ".join([EN] * 40)
    with httpx.Client(timeout=120) as http:
        with http.stream("POST", server.url + "/stream-tts", json={"text": long_text}) as r:
            assert r.status_code == 200
            chunks = r.iter_bytes()  # keep a reference: a dropped iterator closes the connection
            assert next(chunks)
            during = scrape(server.url)
    assert during["flashtts_active_requests"] >= 1

    deadline = time.monotonic() + 60
    while True:
        after = scrape(server.url)
        if after["flashtts_requests_aborted_total"] > before["flashtts_requests_aborted_total"]:
            break
        assert time.monotonic() < deadline, "the hung-up stream was never counted as aborted"
        time.sleep(0.2)

    assert after["flashtts_requests_total"] >= before["flashtts_requests_total"] + 2
    assert after["flashtts_http_errors_total"] >= before["flashtts_http_errors_total"] + 1
    assert after["flashtts_audio_seconds_total"] >= before["flashtts_audio_seconds_total"] + 1.0
    ttfa = "flashtts_time_to_first_audio_seconds_count"
    assert after[ttfa] >= before[ttfa] + 1
    assert after["flashtts_batch_size_count"] > before["flashtts_batch_size_count"]
    assert after["flashtts_request_latency_seconds_count"] > before["flashtts_request_latency_seconds_count"]
    assert after["flashtts_characters_total"] >= before["flashtts_characters_total"] + len(EN)
