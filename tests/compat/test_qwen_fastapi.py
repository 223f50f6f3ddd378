"""Acceptance of the Qwen3-TTS FastAPI deployment (seeds/000): a real server started with ``--workers 2``
(two engine replicas, requests spread over them), its health example, the real voice heard by speech
recognition. Its routes' behaviour (voice design, refusals, batch shapes) is tested in-process:
tests/serving/test_compat_qwen_fastapi.py."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from flashtts.audio import decode

from live import serving
from support import wer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qwen_fastapi")
    with serving(tmp, "--role_dir", str(tmp / "roles"), "--workers", "2") as s:
        yield s


def test_health_curl_example(server):
    r = httpx.get(server.url + "/health", timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert {"status": "healthy", "model_loaded": True, "cuda_available": False}.items() <= body.items()


def test_workers_spread_requests_over_replicas(server, transcribe):
    info = httpx.get(server.url + "/server_info", timeout=30).json()
    replicas = info["engine_stats"]["replicas"]
    assert len(replicas) == 2
    before = [r["served"] for r in replicas]
    # several segments each, so the four requests are surely in flight together (a lone short
    # request could finish before the next one arrives and, with a lopsided history, pick the
    # same replica every time)
    tail = " The juice of lemons makes fine punch. The boy was there when the sun rose."
    texts = [t + tail for t in ["Glue the sheet to the dark blue background.",
                                "The box was thrown beside the parked truck.",
                                "It's easy to tell the depth of a well.",
                                "Hello, this is a test of the speech server."]]

    def speak(text: str) -> bytes:
        r = httpx.post(server.url + "/v1/audio/speech", json={"model": "tts-1", "input": text, "voice": "joe",
                                                              "response_format": "wav", "stream": False}, timeout=120)
        assert r.status_code == 200, r.text
        return r.content

    with ThreadPoolExecutor(4) as pool:
        audios = list(pool.map(speak, texts))
    after = [r["served"] for r in httpx.get(server.url + "/server_info", timeout=30).json()["engine_stats"]["replicas"]]
    assert all(a > b for a, b in zip(after, before, strict=False)), (before, after)
    for text, data in zip(texts, audios, strict=False):
        assert wer(text, transcribe(decode(data, 16000))) <= 0.2
    assert "engine replica 1 using device" in server.log_path.read_text()
