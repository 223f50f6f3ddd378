"""Limits with clear answers: body size (413 before reading), upload size, text length, reference
length, per-key concurrent streams (429), and the request id on every response."""

from __future__ import annotations

import asyncio
import base64
import json
import socket

import httpx
import pytest

from flashtts.config.settings import Limits, ServerConfig

from fakes import FakeEngine, tone_wav
from support import AppStream, app_client


def _raw_exchange(port: int, head: bytes, body_parts: list[bytes] = (), timeout: float = 10.0) -> bytes:
    """Send a raw HTTP request over loopback and read the answer until the server closes or stops."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        for part in body_parts:
            try:
                sock.sendall(part)
            except OSError:  # the server answered and closed while we were still sending
                break
        data = b""
        try:
            while b"\r\n\r\n" not in data or len(data) < data.find(b"\r\n\r\n") + 4 + _length(data):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return data


def _length(data: bytes) -> int:
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 0


def _parse(data: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
    return int(lines[0].split()[1]), headers, json.loads(body[: _length(data)])


@pytest.fixture(scope="module")
def small_body_server(module_server):
    """A real server (uvicorn reads the socket) with a 1 MiB body limit."""
    return module_server("--max_body_mb", "1")


@pytest.mark.slow
def test_declared_oversize_body_is_refused_before_it_is_sent(small_body_server):
    server = small_body_server
    port = int(server.url.rsplit(":", 1)[1])
    # a 2 GB body is announced and never sent: the answer can only come from the headers
    head = (b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2000000000\r\n\r\n")
    status, headers, body = _parse(_raw_exchange(port, head))
    assert status == 413
    assert body["error"]["code"] == "request_too_large" and body["error"]["type"] == "invalid_request_error"
    assert "2000000000" in body["error"]["message"]
    assert headers["x-request-id"]
    assert httpx.get(server.url + "/ready").status_code == 200


@pytest.mark.slow
def test_chunked_oversize_body_is_refused_while_counting(small_body_server):
    server = small_body_server
    port = int(server.url.rsplit(":", 1)[1])
    head = (b"POST /add_speaker HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    piece = b"a" * 65536
    chunks = [f"{len(piece):x}\r\n".encode() + piece + b"\r\n"] * 40  # 2.5 MiB, no length given
    status, headers, body = _parse(_raw_exchange(port, head, chunks + [b"0\r\n\r\n"]))
    assert status == 413
    assert body["error"]["code"] == "request_too_large"
    assert str(1024 * 1024) in body["error"]["message"]
    assert headers["x-request-id"]


async def test_body_limit_in_process_and_small_bodies_pass(tmp_path):
    config = ServerConfig(role_dir=tmp_path / "roles", limits=Limits(max_body_bytes=4096))
    async with app_client(config, FakeEngine()) as client:
        big = await client.post("/v1/audio/speech", content=b"{" + b" " * 5000 + b"}",
                                headers={"content-type": "application/json"})
        assert big.status_code == 413 and big.json()["error"]["code"] == "request_too_large"

        async def stream():
            for _ in range(8):
                yield b"x" * 1024

        streamed = await client.post("/add_speaker", content=stream(),
                                     headers={"content-type": "application/x-www-form-urlencoded"})
        assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "request_too_large"
        small = await client.post("/v1/audio/speech", json={"input": "Hi there.", "voice": "tone", "stream": False,
                                                            "response_format": "wav"})
        assert small.status_code == 200 and small.content[:4] == b"RIFF"


async def test_upload_text_and_reference_limits(tmp_path):
    limits = Limits(max_text_chars=100, max_upload_bytes=60_000, max_reference_seconds=3.0)
    async with app_client(ServerConfig(role_dir=tmp_path / "roles", limits=limits), FakeEngine()) as client:
        long_text = await client.post("/v1/audio/speech", json={"input": "word " * 30, "voice": "tone"})
        assert long_text.status_code == 400
        assert long_text.json()["error"]["code"] == "input_too_long"

        too_big = await client.post("/v1/audio/voices", data={"name": "big"},
                                    files={"audio_sample": ("a.wav", tone_wav(2.0), "audio/wav")})
        assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "file_too_large"

        too_long = await client.post("/add_speaker", data={"name": "long", "voice": "tone",
                                                           "audio": base64.b64encode(tone_wav(3.5, 8000)).decode()})
        assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "audio_too_long"

        fine = await client.post("/add_speaker", data={"name": "fine", "voice": "tone",
                                                       "audio": base64.b64encode(tone_wav(2.0, 8000)).decode()})
        assert fine.status_code == 200, fine.text


async def test_every_response_carries_a_request_id(tmp_path, caplog):
    async with app_client(ServerConfig(role_dir=tmp_path / "roles"), FakeEngine()) as client:
        answers = [
            await client.get("/health"),
            await client.get("/no/such/route"),
            await client.post("/v1/audio/speech", json={"voice": "tone"}),
            await client.get("/v1/audio/voices"),
        ]
        ids = [r.headers.get("x-request-id") for r in answers]
        assert all(ids) and len(set(ids)) == len(ids)
        assert [r.status_code for r in answers] == [200, 404, 400, 200]

        # a client's id is kept, and the synthesis log line carries it
        with caplog.at_level("INFO", logger="flashtts.requests"):
            speech = await client.post("/v1/audio/speech", headers={"X-Request-Id": "trace-42"},
                                       json={"input": "Hello.", "voice": "tone", "stream": False})
        assert speech.status_code == 200 and speech.headers["x-request-id"] == "trace-42"
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "flashtts.requests"]
        assert lines and lines[-1]["request_id"] == "trace-42"
        assert {"route", "voice", "characters", "audio_seconds", "ttfa", "status"} <= set(lines[-1])
        assert lines[-1]["status"] == "ok" and lines[-1]["audio_seconds"] > 0

        # a hostile id is replaced
        odd = await client.get("/health", headers={"X-Request-Id": "bad id\twith spaces" + "x" * 100})
        assert odd.headers["x-request-id"] != "bad id\twith spaces" and len(odd.headers["x-request-id"]) <= 64


async def test_concurrent_streams_per_api_key(tmp_path):
    """``--max_streams_per_key 1``: a key with a stream open gets 429 for a second one; another key does not."""
    engine = FakeEngine(chunks=2)
    engine.hold(first=1)  # the first stream sends its first audio, then holds its slot
    config = ServerConfig(role_dir=tmp_path / "roles", api_keys=("alpha", "beta"),
                          limits=Limits(max_streams_per_key=1))
    alpha = {"Authorization": "Bearer alpha"}
    async with app_client(config, engine) as client:
        async with AppStream(client.app, "POST", "/v1/audio/speech", headers=alpha,
                             json_body={"input": "Hello there.", "voice": "tone", "response_format": "pcm"}) as first:
            assert first.status == 200
            await first.__anext__()  # the first stream is open and holds alpha's slot
            second = await client.post("/v1/audio/speech", headers=alpha,
                                       json={"input": "Hello.", "voice": "tone", "stream": False})
            assert second.status_code == 429
            assert second.json()["error"]["code"] == "too_many_streams"
            assert int(second.headers["retry-after"]) >= 1
            engine.let_all_out()
            other = await client.post("/v1/audio/speech", headers={"Authorization": "Bearer beta"},
                                      json={"input": "Hello.", "voice": "tone", "stream": False})
            assert other.status_code == 200
            await first.read()
        again = await client.post("/v1/audio/speech", headers=alpha,
                                  json={"input": "Hello.", "voice": "tone", "stream": False})
        assert again.status_code == 200


async def test_decoding_an_upload_does_not_block_the_event_loop(tmp_path, monkeypatch):
    """While a clip is being decoded (held here until /health has answered), the server answers."""
    import threading

    from flashtts import audio

    real_decode = audio.decode
    answered, decoding = threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def slow_decode(data, rate, **kwargs):
        decoding.set()
        # on the event loop this wait could never end early: /health would wait behind it
        seen["health_answered_during_decode"] = answered.wait(timeout=20)
        return real_decode(data, rate, **kwargs)

    monkeypatch.setattr(audio, "decode", slow_decode)
    clip = base64.b64encode(tone_wav(2.0)).decode()
    async with app_client(ServerConfig(role_dir=tmp_path / "roles"), FakeEngine()) as client:
        async def health_then_signal():
            for _ in range(400):  # until the decoder holds the clip (bounded: 20 s)
                if decoding.is_set():
                    break
                await asyncio.sleep(0.05)
            resp = await client.get("/health")
            answered.set()
            return resp

        added, health = await asyncio.gather(
            client.post("/add_speaker", data={"name": "decoded", "voice": "tone", "audio": clip}),
            health_then_signal())
    assert added.status_code == 200 and health.status_code == 200
    assert seen == {"health_answered_during_decode": True}
