"""Acceptance 3: streaming delivers its first audio before synthesis of the input has finished.

No clocks: the engine's progress is read from the server's own counter (``batch_items_total``,
one item per synthesised sentence piece) at the moment the client holds its first audio. A
server that buffered the whole answer would show every item done by then.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from support import wer
from live import audio_info, reset, resets_leave_no_trace, serving, stats, to_16k, wait_idle

pytestmark = pytest.mark.slow

FOUR_SENTENCES = (
    "The small pup gnawed a hole in the sock while the family slept soundly upstairs. "
    "The fish twisted and turned on the bent hook as the boy reeled it toward the dock. "
    "Press the pants and sew a button on the vest before the guests arrive for dinner. "
    "The swan dive was far short of perfect but the judges were kind to the young diver."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("streaming")
    with serving(tmp, "--role_dir", str(tmp / "roles")) as s:
        yield s


def _items(server) -> int:
    return int(stats(server.url)["batch_items_total"])


def _items_when_idle(server) -> int:
    return int(wait_idle(server.url)["batch_items_total"])


def test_sse_first_delta_before_synthesis_finished(server, transcribe):
    start = _items_when_idle(server)
    events: list[dict] = []
    done_at_first: int | None = None
    body = {"model": "tts-1", "voice": "alloy", "input": FOUR_SENTENCES, "response_format": "mp3",
            "stream_format": "sse"}
    with httpx.stream("POST", server.url + "/v1/audio/speech", json=body, timeout=120) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers.get("x-accel-buffering") == "no"
        for line in r.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[len("data: "):])
            events.append(event)
            if event["type"] == "speech.audio.delta" and done_at_first is None:
                done_at_first = _items(server) - start  # engine progress as the first audio is in hand
    total = _items_when_idle(server) - start
    types = [e["type"] for e in events]
    print(f"items done at first delta: {done_at_first} of {total}; events: {len(events)}")
    assert types[0] == "speech.audio.delta" and types[-1] == "speech.audio.done", types
    assert set(types[:-1]) == {"speech.audio.delta"}
    assert total >= 4  # four sentences, one engine item each at least
    assert done_at_first is not None and done_at_first < total
    # more audio followed the first delta: the response was not one buffered blob
    assert types.count("speech.audio.delta") >= 3
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    seconds, rate, _ = audio_info(audio)
    assert rate == 24000
    assert seconds == pytest.approx(events[-1]["usage"]["audio_seconds"], rel=0.03)
    heard = transcribe(to_16k(audio))
    print(repr(heard))
    assert wer(FOUR_SENTENCES, heard) <= 0.25


@pytest.mark.parametrize("route,fmt", [("/v1/audio/speech", "pcm"), ("/v1/audio/speech", "mp3"),
                                       ("/v1/audio/speech", "wav"), ("/speak", "opus")])
def test_chunked_audio_first_bytes_before_synthesis_finished(server, route, fmt):
    if route == "/speak":
        body = {"name": "joe", "text": FOUR_SENTENCES, "response_format": fmt, "stream": True}
    else:
        body = {"model": "tts-1", "voice": "alloy", "input": FOUR_SENTENCES, "response_format": fmt}  # streams by default
    # a live WAV starts with its 44-byte header, sent before any audio exists: count audio only
    header = 44 if fmt == "wav" else 0
    start = _items_when_idle(server)
    received = bytearray()
    done_at_first: int | None = None
    chunks_after_first = 0
    with httpx.stream("POST", server.url + route, json=body, timeout=120) as r:
        assert r.status_code == 200, r.read()[:300]
        assert r.headers.get("transfer-encoding") == "chunked"
        assert "x-audio-duration" not in r.headers
        for chunk in r.iter_raw():
            received += chunk
            if done_at_first is None and len(received) > header:
                done_at_first = _items(server) - start
            elif done_at_first is not None:
                chunks_after_first += 1
    total = _items_when_idle(server) - start
    print(f"{route} {fmt}: items done at first audio bytes: {done_at_first} of {total}; "
          f"{chunks_after_first} chunks after")
    assert total >= 4
    assert done_at_first is not None and done_at_first < total
    assert chunks_after_first >= 1
    if fmt == "pcm":
        assert len(received) % 2 == 0 and len(received) / 48000 > 10
    else:
        assert audio_info(bytes(received))[0] > 10


async def test_streams_reset_by_their_client_leave_no_error_in_the_log(server):
    """20 audio and SSE streams reset by the client after their first bytes: no ERROR, no traceback."""
    import asyncio
    wait_idle(server.url)
    port = int(server.url.rsplit(":", 1)[1])

    async def one(n: int) -> None:
        body = json.dumps({"input": FOUR_SENTENCES, "voice": "joe", "response_format": "pcm",
                           **({"stream_format": "sse"} if n % 2 else {})}).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        assert (await asyncio.wait_for(reader.readline(), 60)).startswith(b"HTTP/1.1 200")
        await asyncio.wait_for(reader.read(1000), 60)
        reset(writer.transport)

    await resets_leave_no_trace(server, one, 20, 5)
