"""Injected faults: an engine exception mid-batch, a killed model worker, a crashed batching loop,
a full disk during a role write, and a client that reads one byte per second.

Every case runs the real Piper engine (the fault engine is Piper with one failing sentence).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import socket
import threading
import time

import httpx
import pytest

from flashtts.config.settings import ServerConfig
from flashtts.engine import VoiceInfo
from flashtts.voices import registry as registry_module

from fakes import FakeEngine
from robust.conftest import tone_wav
from support import app_client

pytestmark = pytest.mark.slow

VOICES = (VoiceInfo("joe", "Joe", "a male tone", "en"),)  # the fake engine under Piper's voice name

INNOCENT = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
]
# the marker sits in the third segment, so the failure comes after audio was already sent
POISONED = ("These days a chicken leg is a rare dish. Rice is often served in round bowls. "
            "Then KABOOM went the little engine on the hill.")


def _pcm_seconds(data: bytes) -> float:
    return len(data) / 2 / 24000


def _sse_events(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


async def _stream_pcm(client: httpx.AsyncClient, text: str) -> tuple[int, bytes, BaseException | None]:
    got = bytearray()
    async with client.stream("POST", "/v1/audio/speech",
                             json={"input": text, "voice": "joe", "response_format": "pcm"}) as resp:
        try:
            async for part in resp.aiter_raw():
                got += part
        except httpx.HTTPError as exc:
            return resp.status_code, bytes(got), exc
    return resp.status_code, bytes(got), None


async def test_engine_fault_fails_only_the_requests_it_touched(module_server, faulty_env):
    # a long gathering window puts the concurrent requests' sentences into shared batches
    server = module_server("--engine", "faulty", "--wait_timeout", "0.3", "--batch_size", "8", env=faulty_env)
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
        complete = [client.post("/v1/audio/speech", json={"input": t, "voice": "joe", "stream": False,
                                                          "response_format": "pcm"}) for t in INNOCENT]
        bad_complete = client.post("/v1/audio/speech", json={"input": POISONED, "voice": "joe", "stream": False,
                                                             "response_format": "wav"})
        bad_sse = client.post("/v1/audio/speech", json={"input": POISONED, "voice": "joe", "stream_format": "sse",
                                                        "response_format": "pcm"})
        results = await asyncio.gather(*complete, bad_complete, bad_sse, _stream_pcm(client, POISONED),
                                       _stream_pcm(client, INNOCENT[0] + " " + INNOCENT[1]),
                                       client.post("/v1/audio/speech", json={"input": "KABOOM right away.",
                                                                             "voice": "joe", "response_format": "mp3"}))
        *good, failed, sse, streamed, ok, early = results
        (stream_status, stream_bytes, stream_error), (ok_status, ok_bytes, ok_error) = streamed, ok

        # a stream whose engine fails before any audio: still an error status and body, no 200
        # 5xx bodies name the request id to quote, never the exception text (paths, internals)
        assert early.status_code == 500 and early.headers["x-request-id"] in early.json()["error"]["message"]
        assert "injected" not in early.text

        for resp in good:  # requests sharing batches with the faulty sentences are untouched
            assert resp.status_code == 200, resp.text
            assert _pcm_seconds(resp.content) > 1.0
        assert ok_status == 200 and ok_error is None and _pcm_seconds(ok_bytes) > 2.0

        # a complete file: an error body, no audio
        assert failed.status_code == 500
        err = failed.json()["error"]
        assert failed.headers["x-request-id"] in err["message"] and err["type"] == "server_error"
        assert "injected" not in failed.text
        assert failed.headers["x-request-id"]

        # SSE: audio deltas, then an error event in the open stream, and no done event
        assert sse.status_code == 200
        events = _sse_events(sse.text)
        types = [e["type"] for e in events]
        assert types[0] == "speech.audio.delta" and types[-1] == "error"
        assert "speech.audio.done" not in types
        assert events[-1]["error"]["type"] == "server_error" and "injected" not in events[-1]["error"]["message"]

        # a raw audio stream: what was sent, then a truncated chunked body the client notices
        assert stream_status == 200
        assert _pcm_seconds(stream_bytes) > 1.0
        assert isinstance(stream_error, httpx.RemoteProtocolError)

        # the engine keeps serving
        assert server.proc.poll() is None
        assert (await client.get("/ready")).status_code == 200
        after = await client.post("/v1/audio/speech", json={"input": INNOCENT[2], "voice": "joe", "stream": False,
                                                            "response_format": "pcm"})
        assert after.status_code == 200 and _pcm_seconds(after.content) > 1.0
        info = (await client.get("/server_info")).json()
        assert info["engine_stats"]["injected_faults"] >= 4
        assert info["engine_stats"]["worker_restarts"] == 0


async def test_killed_model_worker_is_restarted_and_ready_reflects_it(tmp_path):
    async with app_client(ServerConfig(role_dir=tmp_path / "roles")) as client:
        engine = client.app.state.service.engine
        batcher = engine._batcher
        assert (await client.get("/ready")).status_code == 200
        batcher.check_interval = 60.0  # the supervisor's next look is far away: the loop itself must heal
        await asyncio.sleep(1.0)  # let the supervisor pick up the new interval
        engine._worker.kill()  # the model thread is gone
        assert engine.ready() is False
        ready = await client.get("/ready")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert (await client.get("/health")).json()["model_loaded"] is False

        resp = await client.post("/v1/audio/speech", json={"input": INNOCENT[0], "voice": "joe", "stream": False,
                                                           "response_format": "pcm"})
        assert resp.status_code == 200 and _pcm_seconds(resp.content) > 1.0
        assert batcher.restarts == 1
        assert (await client.get("/ready")).status_code == 200
        info = (await client.get("/server_info")).json()
        assert info["engine_stats"]["worker_restarts"] == 1


async def test_idle_dead_worker_is_restarted_by_the_supervisor(tmp_path):
    async with app_client(ServerConfig(role_dir=tmp_path / "roles")) as client:
        engine = client.app.state.service.engine
        engine._batcher.check_interval = 0.05
        await asyncio.sleep(0.6)
        engine._worker.kill()
        for _ in range(200):  # bounded: at most 20 s
            if (await client.get("/ready")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert engine.ready() and engine._batcher.restarts == 1


async def test_crashed_batching_loop_restarts_and_keeps_serving(tmp_path):
    async with app_client(ServerConfig(role_dir=tmp_path / "roles")) as client:
        engine = client.app.state.service.engine
        batcher = engine._batcher
        original = batcher._next_batch
        crashes = 0

        async def crash_once():
            nonlocal crashes
            if crashes == 0:
                crashes += 1
                raise RuntimeError("injected loop crash")
            return await original()

        batcher._next_batch = crash_once
        # the loop is parked in the old _next_batch: one request wakes it, the next call crashes it
        first = await client.post("/v1/audio/speech", json={"input": "Hello there.", "voice": "joe",
                                                            "stream": False, "response_format": "pcm"})
        assert first.status_code == 200
        second = await client.post("/v1/audio/speech", json={"input": INNOCENT[1], "voice": "joe",
                                                             "stream": False, "response_format": "pcm"})
        assert second.status_code == 200, second.text
        assert _pcm_seconds(second.content) > 1.0
        assert crashes == 1 and batcher.restarts == 1
        assert (await client.get("/ready")).status_code == 200


async def test_full_disk_during_role_write_answers_507_and_keeps_the_registry(tmp_path, monkeypatch):
    clip = base64.b64encode(tone_wav()).decode()
    async with app_client(ServerConfig(role_dir=tmp_path / "roles"), FakeEngine(voices=VOICES)) as client:
        ok = await client.post("/add_speaker", data={"name": "keeper", "audio": clip, "voice": "joe",
                                                     "reference_text": "original"})
        assert ok.status_code == 200, ok.text
        before = (tmp_path / "roles" / "keeper" / "role.json").read_bytes()
        names_before = (await client.get("/audio_roles")).json()["roles"]

        real_write = registry_module._write_file
        calls = 0

        def full_disk(path, data):
            nonlocal calls
            calls += 1
            if calls == 2:  # the second file of the role: half of it lands, then the disk is full
                with open(path, "wb") as fh:
                    fh.write(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
            real_write(path, data)

        monkeypatch.setattr(registry_module, "_write_file", full_disk)
        for name, overwrite in (("keeper", "true"), ("newcomer", "false")):
            calls = 0
            resp = await client.post("/add_speaker", data={"name": name, "audio": clip, "voice": "joe",
                                                           "reference_text": "replacement", "overwrite": overwrite})
            assert resp.status_code == 507, resp.text
            err = resp.json()["error"]
            assert err["code"] == "storage_error" and "No space left" in err["message"]

        # the old role is intact, the new one absent, no half-written leftovers
        assert (tmp_path / "roles" / "keeper" / "role.json").read_bytes() == before
        assert (await client.get("/audio_roles")).json()["roles"] == names_before
        assert not [p for p in (tmp_path / "roles").iterdir() if p.name.startswith(".") and p.name != ".lock"]
        ref = await client.get("/v1/audio/voices/keeper/reference")
        assert ref.status_code == 200 and ref.content[:4] == b"RIFF"

        monkeypatch.setattr(registry_module, "_write_file", real_write)
        again = await client.post("/add_speaker", data={"name": "newcomer", "audio": clip, "voice": "joe"})
        assert again.status_code == 200


def _slow_reader(port: int, body: bytes, stop: threading.Event, stats: dict) -> None:
    """Open a streaming request and read its answer one byte per second until told to stop."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    try:
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        deadline = time.monotonic() + 180
        while not stop.is_set() and time.monotonic() < deadline:
            byte = sock.recv(1)
            if not byte:
                stats["closed"] = True
                break
            stats["read"] = stats.get("read", 0) + 1
            stop.wait(1.0)
    except OSError as exc:
        stats["error"] = repr(exc)
    finally:
        sock.close()


async def test_slow_client_does_not_stall_other_streams(piper_server):
    server = piper_server
    port = int(server.url.rsplit(":", 1)[1])
    long_text = " ".join(["The birch canoe slid on the smooth planks, and the sheet was glued to the dark blue "
                          "background while rice was served in round bowls."] * 25)[:3500]
    body = json.dumps({"input": long_text, "voice": "joe", "response_format": "pcm"}).encode()
    stop, stats = threading.Event(), {}
    reader = threading.Thread(target=_slow_reader, args=(port, body, stop, stats), daemon=True)
    reader.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            for _ in range(100):  # wait (bounded) until the slow request is admitted
                if (await client.get("/server_info")).json()["stats"]["active_requests"] >= 1:
                    break
                await asyncio.sleep(0.1)
            results = await asyncio.gather(*[_stream_pcm(client, t) for t in INNOCENT * 2])
            for status, data, error in results:
                assert status == 200 and error is None and _pcm_seconds(data) > 1.0
            info = (await client.get("/server_info")).json()
            # the slow stream was open the whole time and still is
            assert info["stats"]["active_requests"] >= 1
            assert "closed" not in stats and "error" not in stats
            assert stats.get("read", 0) < 200
    finally:
        stop.set()
        reader.join(10)


async def test_client_that_stops_reading_is_abandoned_and_frees_its_slot(module_server):
    server = module_server("--send_timeout", "2")
    port = int(server.url.rsplit(":", 1)[1])
    long_text = " ".join(["The birch canoe slid on the smooth planks, and the sheet was glued to the dark blue "
                          "background while rice was served in round bowls."] * 25)[:3500]
    body = json.dumps({"input": long_text, "voice": "joe", "response_format": "pcm"}).encode()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    try:
        sock.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            seen_active = False
            for _ in range(1200):  # bounded: 120 s; the stalled stream is admitted, then abandoned
                active = (await client.get("/server_info")).json()["stats"]["active_requests"]
                seen_active = seen_active or active >= 1
                if seen_active and active == 0:
                    break
                await asyncio.sleep(0.1)
            assert seen_active and active == 0
            assert "response abandoned" in server.log()
            ok = await client.post("/v1/audio/speech", json={"input": "Still here.", "voice": "joe",
                                                             "stream": False, "response_format": "pcm"})
            assert ok.status_code == 200
        # the client finds its answer cut short: headers and some audio, then the connection closes
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except OSError:
            pass
        assert data.startswith(b"HTTP/1.1 200") and not data.endswith(b"0\r\n\r\n")
    finally:
        sock.close()
