"""Acceptance: a server that lets go. Shutdown with grace on SIGTERM, and the engine unloaded when idle.

Each test runs its own server (they stop it, or wait for it to idle).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from live import errors_logged_since, serving
from support import HARVARD, free_port

pytestmark = pytest.mark.slow

TIMEOUT = 60
SENTENCE = "The birch canoe slid on the smooth planks. "


async def _text_stream(url: str, seconds: float, sent: list[int]) -> dict:
    """A WebSocket session fed a sentence every second for ``seconds`` (an LLM writing), then ``end``;
    what it got back."""
    ws_url = url.replace("http://", "ws://") + "/v1/audio/speech/stream"
    audio = 0
    kinds: list[str] = []
    async with connect(ws_url, open_timeout=TIMEOUT) as ws:
        await ws.send(json.dumps({"type": "start", "voice": "joe", "response_format": "pcm"}))

        async def feed() -> None:
            for _ in range(int(seconds)):
                await ws.send(json.dumps({"type": "text", "text": SENTENCE}))
                sent[0] += 1
                await asyncio.sleep(1.0)
            await ws.send(json.dumps({"type": "end"}))

        feeder = asyncio.create_task(feed())
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    audio += len(message)
                else:
                    kinds.append(json.loads(message)["type"])
        except ConnectionClosed:
            pass  # cut: the close code says how
        finally:
            feeder.cancel()
        return {"close_code": ws.close_code, "kinds": kinds, "audio_seconds": audio / 48000}


async def _player(url: str, text: str) -> tuple[int, float]:
    """An HTTP audio stream read at the pace it plays (24 kHz 16-bit: 48000 bytes a second)."""
    got = 0
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        async with client.stream("POST", url + "/v1/audio/speech",
                                 json={"input": text, "voice": "joe", "response_format": "pcm"}) as r:
            async for part in r.aiter_raw(4800):
                got += len(part)
                await asyncio.sleep(0.1)
    return r.status_code, got / 48000


async def test_sigterm_lets_streams_in_flight_finish_and_turns_new_requests_away(tmp_path):
    """SIGTERM with --shutdown_grace 60 during a 30-second text-in stream and an HTTP stream played in
    real time: both complete; meanwhile a new request gets 503 with Retry-After, /ready 503, the
    Wyoming listener is closed; then the process exits 0."""
    wyoming_port = free_port()
    with serving(tmp_path, "--shutdown_grace", "60", "--wyoming_port", str(wyoming_port)) as server:
        sent = [0]
        session = asyncio.create_task(_text_stream(server.url, 30, sent))
        player = asyncio.create_task(_player(server.url, " ".join(HARVARD * 2)))
        await asyncio.sleep(3)
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(1)
        async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
            refused = await client.post("/v1/audio/speech", json={"input": "Hello.", "voice": "joe"})
            ready = await client.get("/ready")
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "shutting_down"
        assert ready.status_code == 503 and ready.json()["draining"] is True
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", wyoming_port)
        answer = await asyncio.wait_for(session, 90)
        status, played = await asyncio.wait_for(player, 90)
        assert server.proc.wait(TIMEOUT) == 0
        assert answer["close_code"] == 1000 and answer["kinds"][-1] == "done", answer
        assert answer["kinds"].count("segment") == sent[0] == 30
        assert answer["audio_seconds"] > 30  # every sentence spoken
        assert status == 200 and played > 20  # the whole played stream (10 Harvard sentences)
        assert not errors_logged_since(server, 0)


async def test_streams_still_running_when_the_grace_is_over_are_cut_and_the_server_exits_0(tmp_path):
    with serving(tmp_path, "--shutdown_grace", "2") as server:
        session = asyncio.create_task(_text_stream(server.url, 60, [0]))
        await asyncio.sleep(2)
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(TIMEOUT) == 0
        exited = time.monotonic() - signalled
        answer = await asyncio.wait_for(session, TIMEOUT)
        assert answer["kinds"][-1] != "done" and answer["close_code"] != 1000  # cut, not finished
        assert exited < 30  # the grace (2 s), not the session's 60 s
        assert "still in flight after 2 s; aborting" in server.log()
        assert not errors_logged_since(server, 0)


def _info(server) -> dict:
    return httpx.get(server.url + "/server_info", timeout=TIMEOUT).json()


def _wait_unloaded(server, limit: float = 60) -> dict:
    deadline = time.monotonic() + limit
    while (info := _info(server))["model_loaded"]:
        assert time.monotonic() < deadline, "the engine was not unloaded"
        time.sleep(0.2)
    return info


def test_an_idle_engine_gives_its_memory_back_and_the_next_request_reloads_it(tmp_path):
    """--idle_unload 2 (Piper): after 2 s without a request the weights are freed and resident memory
    falls back within 10% of where it was before that load; the next request reloads them and succeeds.
    The figure before the load is read once the server has answered a request and unloaded (the
    first request's one-time costs, espeak's data and the HTTP path's first imports, stay by design)."""
    speak = {"input": "The birch canoe slid on the smooth planks.", "voice": "joe", "response_format": "wav"}
    with serving(tmp_path, "--idle_unload", "2") as server:
        first = _wait_unloaded(server)["rss_mib"]  # idle since it started
        r = httpx.post(server.url + "/v1/audio/speech", json=speak, timeout=TIMEOUT)
        assert r.status_code == 200 and len(r.content) > 22050
        before = _wait_unloaded(server)["rss_mib"]
        r = httpx.post(server.url + "/v1/audio/speech", json=speak, timeout=TIMEOUT)
        assert r.status_code == 200 and len(r.content) > 22050
        loaded = _info(server)
        assert loaded["model_loaded"] and loaded["stats"]["model_reloads_total"] == 2
        after = _wait_unloaded(server)["rss_mib"]
        print(f"resident memory: before the first load {loaded['rss_before_load_mib']} MiB, unloaded at start "
              f"{first} MiB, unloaded after a request {before} MiB, loaded {loaded['rss_mib']} MiB, "
              f"unloaded again {after} MiB")
        assert loaded["rss_mib"] - after > 100  # the voice's sessions were freed, not kept
        assert after <= 1.10 * before
        r = httpx.post(server.url + "/v1/audio/speech", json=speak, timeout=TIMEOUT)
        assert r.status_code == 200 and len(r.content) > 22050
        stats = _info(server)["stats"]
        assert stats["model_reloads_total"] == 3 and stats["model_reload_wait_seconds_total"] > 0
        assert "waited" in server.log() and not errors_logged_since(server, 0)
