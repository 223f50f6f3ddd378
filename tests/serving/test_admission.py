"""Admission and the end of a request (in-process, FakeEngine held at its permits, so nothing depends on time).

Over ``--queue_limit`` every synthesis route answers 429 with ``Retry-After`` while what is not synthesis
stays open; a client that leaves mid-stream stops its synthesis, frees its slot and is counted and logged
as aborted. The same through a real socket: tests/test_load.py.
"""

from __future__ import annotations

import asyncio
import json
import logging

import openai
import pytest

from fakes import FakeEngine
from support import AppStream, assert_openai_error, until

LONG = "The juice of lemons makes fine punch. " * 20  # twenty sentences: twenty engine requests


def _prom(text: str, name: str) -> float:
    return float(next(line.split()[1] for line in text.splitlines() if line.startswith(f"flashtts_{name} ")))


async def _stats(client) -> dict:
    return (await client.get("/server_info")).json()["stats"]


async def test_over_the_queue_limit_is_429_with_retry_after(serve):
    engine = FakeEngine(chunks=3)
    engine.gate = asyncio.Event()  # the engine holds every chunk until the test opens the gate
    body = {"model": "tts-1", "voice": "alloy", "input": LONG, "response_format": "pcm"}
    async with serve(engine, queue_limit=2) as client:
        held = [asyncio.ensure_future(client.post("/v1/audio/speech", json={**body, **extra}))
                for extra in ({}, {"stream": False})]  # one stream, one complete file: both admitted
        await until(lambda: len(engine.requests) == 2)
        assert (await _stats(client))["active_requests"] == 2
        for extra in ({"stream": False}, {}, {"stream_format": "sse"}):
            r = await client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy",
                                                            "input": "One more.", **extra})
            err = assert_openai_error(r, 429)
            assert err["type"] == "rate_limit_error" and err["code"] == "queue_full", err
            assert int(r.headers["retry-after"]) >= 1
        assert_openai_error(await client.post("/speak", json={"name": "tone", "text": "One more."}), 429)
        # the SDK sees a RateLimitError (retries off: it would honour Retry-After and retry)
        sdk = openai.AsyncOpenAI(base_url="http://localhost/v1", api_key="x", max_retries=0, http_client=client)
        with pytest.raises(openai.RateLimitError):
            await sdk.audio.speech.create(model="tts-1", voice="alloy", input="One more.")
        # what is not synthesis stays open
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/audio_roles")).status_code == 200
        engine.gate.set()
        assert [(await r).status_code for r in held] == [200, 200]
        after = await _stats(client)
        assert after["requests_rejected_total"] == 5 and after["active_requests"] == 0
        # the two slots came back: requests are admitted again
        r = await client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "Room again.",
                                                        "stream": False})
        assert r.status_code == 200


@pytest.mark.parametrize("sse", [False, True], ids=["chunked", "sse"])
async def test_disconnect_mid_stream_stops_synthesis(serve, sse, caplog):
    engine = FakeEngine(chunks=3)
    engine.hold(first=1)
    body = {"model": "tts-1", "voice": "alloy", "input": LONG, "response_format": "pcm",
            **({"stream_format": "sse"} if sse else {})}
    async with serve(engine) as client:
        with caplog.at_level(logging.INFO, logger="flashtts.requests"):
            async with AppStream(client.app, "POST", "/v1/audio/speech", json_body=body) as stream:
                assert stream.status == 200
                assert await stream.__anext__()  # the first audio is here; the engine waits for the next permit
                assert (await _stats(client))["active_requests"] == 1
            # leaving the block is the client going away mid-stream
        after = await _stats(client)
        metrics = (await client.get("/metrics")).text
    assert len(engine.requests) == 1 and engine.finished == []  # one of twenty sentences started, none finished
    assert engine.aborted == [engine.requests[0].request_id]  # and the engine was told to stop it
    assert after["requests_aborted_total"] == 1 and _prom(metrics, "requests_aborted_total") == 1
    assert after["active_requests"] == 0 and after["requests_failed_total"] == 0  # its slot was given back
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "flashtts.requests"]
    assert [(e["status"], e["characters"]) for e in logged] == [("aborted", len(LONG))]
