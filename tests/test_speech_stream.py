"""Acceptance: the WebSocket text-in route ``/v1/audio/speech/stream`` against a live server.

Text sent at a steady pace (as an LLM writes) is heard before it is all sent; closing the socket
mid-answer stops the work (counted as aborted); bad messages get a clear error and a close.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from flashtts.audio import Resampler

from live import reset, resets_leave_no_trace, serving, stats, wait_idle
from support import HARVARD, wer

pytestmark = pytest.mark.slow

TIMEOUT = 60
EIGHT = HARVARD + ["A pot of tea helps to pass the evening.", "The hogs were fed chopped corn and garbage.",
                   "Four hours of steady work faced us."]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stream")
    with serving(tmp, "--role_dir", str(tmp / "roles")) as s:
        s.ws = s.url.replace("http://", "ws://") + "/v1/audio/speech/stream"
        yield s


def pcm_16k(pcm: bytes) -> np.ndarray:
    rs = Resampler(24000, 16000)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32767.0
    return np.concatenate([rs(samples), rs(None)])


async def test_steady_text_is_heard_before_it_is_all_sent(server, transcribe):
    sentences = HARVARD[:3]
    text = " ".join(sentences)
    pieces = [text[i:i + 4] for i in range(0, len(text), 4)]  # ~one token each, 20 per second
    messages: list[dict | bytes] = []
    first_audio = asyncio.Event()
    async with connect(server.ws, open_timeout=TIMEOUT) as ws:
        async def reader() -> None:
            async for message in ws:
                messages.append(message if isinstance(message, bytes) else json.loads(message))
                if isinstance(message, bytes):
                    first_audio.set()

        task = asyncio.create_task(reader())
        await ws.send(json.dumps({"type": "start", "voice": "joe", "response_format": "pcm", "timestamps": True}))
        sent_at_first_audio = None
        for n, piece in enumerate(pieces):
            if n == len(pieces) - 2:  # the last sentence is not complete yet: audio must come now
                await asyncio.wait_for(first_audio.wait(), TIMEOUT)
            if first_audio.is_set() and sent_at_first_audio is None:
                sent_at_first_audio = n
            await ws.send(json.dumps({"type": "text", "text": piece}))
            await asyncio.sleep(0.05)
        await ws.send(json.dumps({"type": "end"}))
        await asyncio.wait_for(task, TIMEOUT)
        assert ws.close_code == 1000
    assert sent_at_first_audio is not None and sent_at_first_audio < len(pieces)
    assert messages[0]["type"] == "started" and messages[-1]["type"] == "done"
    segments = [m["text"] for m in messages if isinstance(m, dict) and m["type"] == "segment"]
    assert segments == sentences
    # every segment's audio comes after its boundary message, in order
    assert isinstance(messages[2], bytes) and messages[1]["type"] == "segment"
    pcm = b"".join(m for m in messages if isinstance(m, bytes))
    assert wer(text, transcribe(pcm_16k(pcm))) <= 0.2
    words = [w for m in messages if isinstance(m, dict) and m["type"] == "speech.audio.words" for w in m["words"]]
    assert len(words) == len(text.split())
    assert all(a["end"] <= b["start"] + 1e-3 for a, b in zip(words, words[1:], strict=False))
    assert words[-1]["end"] <= len(pcm) / 2 / 24000 + 0.01
    assert messages[-1]["segments"] == 3 and messages[-1]["characters"] == len(text)


async def test_pieces_with_nothing_to_say_are_skipped_not_fatal(server):
    """An LLM's answer may hold a sentence of only emoji or dots: the stream goes on past it."""
    async with connect(server.ws, open_timeout=TIMEOUT) as ws:
        await ws.send(json.dumps({"type": "start", "voice": "joe", "response_format": "pcm"}))
        for piece in ("Hello there. ", "\U0001F642 ", "... ", "See you soon."):
            await ws.send(json.dumps({"type": "text", "text": piece}))
        await ws.send(json.dumps({"type": "end"}))
        messages = [m if isinstance(m, bytes) else json.loads(m) async for m in ws]
    kinds = [m["type"] for m in messages if isinstance(m, dict)]
    assert "error" not in kinds and kinds[-1] == "done", kinds
    assert [m["text"] for m in messages if isinstance(m, dict) and m["type"] == "segment"] == [
        "Hello there.", "See you soon."]
    assert sum(len(m) for m in messages if isinstance(m, bytes)) > 24000  # two spoken segments


async def test_closing_the_socket_mid_answer_aborts_the_work(server):
    before = wait_idle(server.url)
    async with connect(server.ws, open_timeout=TIMEOUT) as ws:
        await ws.send(json.dumps({"type": "start", "voice": "joe"}))
        await ws.send(json.dumps({"type": "text", "text": " ".join(EIGHT)}))
        await ws.send(json.dumps({"type": "end"}))
        while not isinstance(await asyncio.wait_for(ws.recv(), TIMEOUT), bytes):
            pass
    after = wait_idle(server.url)
    assert after["requests_aborted_total"] > before["requests_aborted_total"]
    assert after["batch_items_total"] - before["batch_items_total"] < len(EIGHT)  # the rest never ran
    assert after["active_requests"] == 0


async def error_of(server, *messages: str | bytes) -> tuple[dict, int | None]:
    """Send the messages; the error message the server answers and its close code."""
    async with connect(server.ws, open_timeout=TIMEOUT) as ws:
        for m in messages:
            await ws.send(m)
        while True:
            try:
                reply = await asyncio.wait_for(ws.recv(), TIMEOUT)
            except ConnectionClosed:
                raise AssertionError(f"closed without an error message ({ws.close_code})") from None
            if isinstance(reply, str) and json.loads(reply)["type"] == "error":
                break
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        return json.loads(reply)["error"], ws.close_code


async def test_bad_messages_get_an_error_and_a_close(server):
    start = json.dumps({"type": "start", "voice": "joe"})
    err, code = await error_of(server, start, json.dumps({"type": "bogus"}))
    assert err["code"] == "invalid_message" and "bogus" in err["message"] and code == 1008
    err, code = await error_of(server, "not json")
    assert "JSON" in err["message"] and code == 1008
    err, code = await error_of(server, start, b"\x00\x01")
    assert "binary" in err["message"] and code == 1008
    err, code = await error_of(server, json.dumps({"type": "start", "voice": "nobody"}))
    assert err["code"] == "voice_not_found" and code == 1008
    err, code = await error_of(server, json.dumps({"type": "start", "speed": 9}))
    assert err["param"] == "speed" and code == 1008
    err, code = await error_of(server, start, json.dumps({"type": "text"}))
    assert err["param"] == "text" and code == 1008
    assert stats(server.url)["active_requests"] == 0


def test_api_key_is_checked_on_the_upgrade(role_dir):
    """With --api_key the socket wants the key in the upgrade request's headers, like every HTTP route."""
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from flashtts.config.settings import ServerConfig
    from flashtts.http.app import create_app

    app = create_app(ServerConfig(role_dir=role_dir, api_keys=("k-123",), allowed_hosts=("testserver",)))
    with TestClient(app) as http:  # Starlette's test client calls itself testserver
        for headers in ({}, {"Authorization": "Bearer wrong"}):  # refused at the handshake, before any text
            with pytest.raises(WebSocketDisconnect) as refused:
                with http.websocket_connect("/v1/audio/speech/stream", headers=headers) as ws:
                    ws.receive_json()
            assert refused.value.code == 1008
        with http.websocket_connect("/v1/audio/speech/stream", headers={"Authorization": "Bearer k-123"}) as ws:
            ws.send_json({"type": "start", "voice": "joe"})
            assert ws.receive_json()["type"] == "started"
            ws.send_json({"type": "text", "text": "Hello there."})
            ws.send_json({"type": "end"})
            kinds = []
            while not kinds or kinds[-1] != "done":
                message = ws.receive()
                kinds.append("audio" if message.get("bytes") else json.loads(message["text"])["type"])
            assert kinds[0] == "segment" and "audio" in kinds


async def test_a_client_that_stops_reading_loses_its_slot(tmp_path):
    """A socket that takes no audio for --send_timeout seconds is dropped: it cannot hold a slot forever."""
    import socket
    import time

    with serving(tmp_path, "--role_dir", str(tmp_path / "roles"), "--send_timeout", "2") as server:
        before = stats(server.url)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel buffers little for it
        sock.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
        ws_url = server.url.replace("http://", "ws://") + "/v1/audio/speech/stream"
        async with connect(ws_url, sock=sock, max_queue=1, open_timeout=TIMEOUT) as ws:
            await ws.send(json.dumps({"type": "start", "voice": "joe", "response_format": "pcm"}))
            await ws.send(json.dumps({"type": "text", "text": " ".join(HARVARD * 12)}))  # ~3 minutes of speech
            await ws.send(json.dumps({"type": "end"}))
            # and from here on it reads nothing
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                now = stats(server.url)
                if now["active_requests"] == 0 and now["requests_aborted_total"] > before["requests_aborted_total"]:
                    break
                await asyncio.sleep(0.5)
            else:
                raise AssertionError(f"the stalled stream still holds its slot: {now}")
        # the send timeout ended it (not the WebSocket keep-alive ping, which would take ~40 s)
        assert "client took no data for 2 s" in server.log(), server.log()[-2000:]


async def test_sockets_reset_mid_answer_leave_no_error_in_the_log(server):
    """20 sockets reset by their client (mid-answer, or waiting for text): quiet, every slot and place freed."""
    wait_idle(server.url)

    async def one(n: int) -> None:
        ws = await connect(server.ws, open_timeout=TIMEOUT)
        await ws.send(json.dumps({"type": "start", "voice": "joe"}))
        await asyncio.wait_for(ws.recv(), TIMEOUT)
        if n % 2 == 0:
            await ws.send(json.dumps({"type": "text", "text": " ".join(EIGHT)}))
            while not isinstance(await asyncio.wait_for(ws.recv(), TIMEOUT), bytes):
                pass
        reset(ws.transport)

    await resets_leave_no_trace(server, one, 20, 5)
