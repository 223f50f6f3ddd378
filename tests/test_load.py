"""Acceptance 6: concurrency on a real server.

* 16 concurrent requests all succeed and run together: the engine ran sentences of different
  requests at the same time (Piper runs each sentence as soon as it is queued, on several threads).
* A client that disconnects mid-stream, or gives up waiting for a complete file, stops its synthesis:
  ``requests_aborted_total`` rises and the engine ran only a few of that request's many sentence pieces.

Over ``--queue_limit`` (429 with ``Retry-After``) and the SSE disconnect: in-process, tests/serving/test_admission.py.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from live import audio_info, stats, to_16k, wait_idle
from support import HARVARD, wer

pytestmark = pytest.mark.slow

# about 60 engine items (sentence pieces) and four minutes of speech
LONG_TEXT = " ".join(HARVARD * 12)


@pytest.fixture(scope="module")
def server(piper_server):
    """The session's shared Piper server (tests/conftest.py)."""
    return piper_server


def _texts() -> list[str]:
    return [f"{HARVARD[i % 5]} {HARVARD[(i + 2) % 5]}" for i in range(16)]


def test_16_concurrent_requests_succeed_and_are_batched(server, transcribe):
    before = wait_idle(server.url)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=300,
                                     limits=httpx.Limits(max_connections=32)) as client:
            return await asyncio.gather(*(
                client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": text,
                                                      "response_format": "wav", "stream": False})
                for text in _texts()))

    responses = asyncio.run(burst())
    after = wait_idle(server.url)
    assert [r.status_code for r in responses] == [200] * 16
    for r in responses:
        assert float(r.headers["x-audio-duration"]) > 2.0
        assert audio_info(r.content)[0] == pytest.approx(float(r.headers["x-audio-duration"]), rel=0.02)
    items = after["batch_items_total"] - before["batch_items_total"]
    batches = after["batches_total"] - before["batches_total"]
    print(f"16 requests: {items} engine items in {batches} batches; largest batch {after['max_batch_size']}")
    assert after["requests_total"] - before["requests_total"] == 16
    assert items >= 32  # two sentences each
    assert batches <= items
    # a request's sentences run one after another, so two at once belong to different requests
    assert after["max_running_items"] > 1
    assert after["requests_failed_total"] == before["requests_failed_total"]
    # running together did not mix requests up: each answer says its own text
    for i in (1, 2, 4):  # three different pairs of sentences
        heard = transcribe(to_16k(responses[i].content, "wav"))
        assert wer(_texts()[i], heard) <= 0.25, (_texts()[i], heard)


def _metrics_value(url: str, name: str) -> float:
    text = httpx.get(url + "/metrics", timeout=30).text
    for line in text.splitlines():
        if line.startswith(f"flashtts_{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_disconnect_mid_stream_stops_synthesis(server):
    before = wait_idle(server.url)
    aborted_prom = _metrics_value(server.url, "requests_aborted_total")
    body = {"model": "tts-1", "voice": "alloy", "input": LONG_TEXT, "response_format": "pcm"}
    with httpx.Client(timeout=120) as client:
        with client.stream("POST", server.url + "/v1/audio/speech", json=body) as r:
            assert r.status_code == 200
            chunks = r.iter_raw()  # keep the iterator: dropping it would close the connection at once
            first = next(chunks)
            assert first
            assert stats(server.url)["active_requests"] == 1  # still streaming while we hold the line
        # leaving the block closes the connection mid-stream
    after = wait_idle(server.url)
    items = after["batch_items_total"] - before["batch_items_total"]
    print(f"disconnected after {len(first)} bytes: engine ran {items} items of ~60")
    assert after["requests_aborted_total"] == before["requests_aborted_total"] + 1
    assert _metrics_value(server.url, "requests_aborted_total") == aborted_prom + 1
    assert items <= 12, items  # a finished request would have run about 60
    assert after["active_requests"] == 0  # its slot was given back
    # and the server goes on serving
    r = httpx.post(server.url + "/v1/audio/speech", timeout=60,
                   json={"model": "tts-1", "voice": "alloy", "input": "Still here.", "stream": False})
    assert r.status_code == 200


def test_disconnect_while_a_complete_file_is_made_stops_synthesis(server):
    """``stream: false``: the client gives up waiting; the server must not finish the file for nobody."""
    before = wait_idle(server.url)
    with pytest.raises(httpx.ReadTimeout):
        # the read timeout is the client giving up; no assertion is made on the server's speed
        httpx.post(server.url + "/v1/audio/speech", timeout=httpx.Timeout(60, read=0.5),
                   json={"model": "tts-1", "voice": "alloy", "input": LONG_TEXT, "stream": False})
    after = wait_idle(server.url)
    items = after["batch_items_total"] - before["batch_items_total"]
    print(f"client gone: engine ran {items} items of ~60")
    assert after["requests_aborted_total"] == before["requests_aborted_total"] + 1
    assert items <= 12, items
    assert after["requests_failed_total"] == before["requests_failed_total"]


def test_request_log_records_the_disconnect(server):
    lines = [json.loads(entry) for line in server.log_path.read_text().splitlines()
             if (entry := line.partition("flashtts.requests: ")[2]).startswith("{")]  # request lines, not notes
    stopped = [entry for entry in lines if entry["status"] in ("disconnected", "aborted")
               and entry["characters"] == len(LONG_TEXT)]  # the shared server logs other modules' requests too
    assert len(stopped) >= 2
