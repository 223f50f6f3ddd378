"""The serving layer in-process on a fake engine: planning, admission, streams, SSE, limits."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from flashtts.config.settings import ServerConfig
from flashtts.engine import Capabilities

from fakes import FakeEngine
from support import app_client, until


def _config(tmp_path, **kw) -> ServerConfig:
    return ServerConfig(role_dir=tmp_path / "roles", **kw)


async def test_complete_file_has_every_chunk_and_its_duration(tmp_path):
    engine = FakeEngine(chunks=4, chunk_seconds=0.25)
    async with app_client(_config(tmp_path), engine) as client:
        r = await client.post("/v1/audio/speech", json={"input": "Hello there.", "voice": "tone", "stream": False,
                                                        "response_format": "wav"})
    assert r.status_code == 200
    assert float(r.headers["x-audio-duration"]) == pytest.approx(1.0, abs=0.01)
    assert len(engine.requests) == 1 and engine.requests[0].voice == "tone"


async def test_long_text_is_split_into_segments_in_order(tmp_path):
    engine = FakeEngine(chunks=1)
    text = "First sentence here. Second sentence follows. Third one ends it."
    async with app_client(_config(tmp_path, length_threshold=10, window_size=25), engine) as client:
        r = await client.post("/speak", json={"name": "tone", "text": text, "response_format": "pcm"})
    assert r.status_code == 200
    assert [q.text for q in engine.requests] == ["First sentence here.", "Second sentence follows.",
                                                 "Third one ends it."]


async def test_sse_frames_deltas_then_done(tmp_path):
    async with app_client(_config(tmp_path), FakeEngine(chunks=3)) as client:
        r = await client.post("/v1/audio/speech", json={"input": "Hi.", "voice": "tone", "stream_format": "sse",
                                                        "response_format": "pcm"})
    events = [json.loads(line[6:]) for line in r.text.split("\n\n") if line.startswith("data: ")]
    types = [e["type"] for e in events]
    assert types[-1] == "speech.audio.done" and set(types[:-1]) == {"speech.audio.delta"} and len(types) >= 4
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert len(pcm) // 2 == pytest.approx(0.75 * 24000, rel=0.01)  # resampled to 24 kHz


async def test_queue_limit_answers_429_while_synthesis_runs(tmp_path):
    engine = FakeEngine(chunks=1)
    engine.gate = asyncio.Event()
    async with app_client(_config(tmp_path, queue_limit=1), engine) as client:
        first = asyncio.ensure_future(client.post("/v1/audio/speech", json={"input": "One.", "voice": "tone",
                                                                           "stream": False}))
        await until(lambda: bool(engine.requests))
        second = await client.post("/v1/audio/speech", json={"input": "Two.", "voice": "tone", "stream": False})
        assert second.status_code == 429 and int(second.headers["retry-after"]) >= 1
        engine.gate.set()
        assert (await first).status_code == 200


class _Ticket:
    def __init__(self) -> None:
        self.generated_calls = 0
        self.released = False

    def generated(self) -> None:
        self.generated_calls += 1

    def release(self) -> None:
        self.released = True


async def _parts(n: int, size: int, done: list[bool]):
    try:
        for _ in range(n):
            await asyncio.sleep(0)
            yield b"x" * size
        done.append(True)
    except GeneratorExit:
        done.append(False)
        raise


async def test_drain_runs_ahead_of_a_slow_reader_within_its_buffer():
    from flashtts.serving.lifecycle import Buffered

    ticket, done = _Ticket(), []

    async def guarded():
        async for part in _parts(8, 100, done):
            yield part
        ticket.generated()

    drain = Buffered(guarded(), 10_000, ticket)  # room for the whole answer
    first = await drain.__anext__()
    await asyncio.sleep(0.05)
    assert first and done == [True] and ticket.generated_calls == 1  # all generated after one read
    rest = [part async for part in drain]
    assert len(rest) == 7
    await drain.aclose()
    assert ticket.released


async def test_drain_is_bounded_and_closing_it_stops_the_producer():
    from flashtts.serving.lifecycle import Buffered

    ticket, done = _Ticket(), []
    drain = Buffered(_parts(1000, 100, done), 300, ticket)
    await drain.__anext__()
    await asyncio.sleep(0.05)
    assert drain._size <= 300  # the producer waits for the reader
    await drain.aclose()
    assert done == [False] and ticket.released


async def test_drain_passes_a_producer_error_to_the_reader():
    from flashtts.serving.lifecycle import Buffered

    async def failing():
        yield b"ok"
        raise RuntimeError("engine broke")

    drain = Buffered(failing(), 1000, _Ticket())
    assert await drain.__anext__() == b"ok"
    with pytest.raises(RuntimeError, match="engine broke"):
        await drain.__anext__()


async def test_engine_capabilities_come_from_the_engine(tmp_path):
    engine = FakeEngine(Capabilities(clone=True))
    async with app_client(_config(tmp_path), engine) as client:
        info = (await client.get("/server_info")).json()
    assert "clone" in json.dumps(info)


@pytest.mark.parametrize("host,status", [("localhost", 200), ("evil.example", 400)])
async def test_host_check_in_process(tmp_path, host, status):
    async with app_client(_config(tmp_path), FakeEngine()) as client:
        r = await client.get("/health", headers={"Host": host})
    assert r.status_code == status


async def test_text_that_normalises_to_many_times_the_limit_is_refused(tmp_path):
    """Numbers and symbols spelled out may not turn one request into far more speech than the text limit allows."""
    from flashtts.config.settings import Limits
    from flashtts.serving.planning import SPOKEN_EXPANSION

    engine = FakeEngine(chunks=1)
    text = "7% " * 20  # 60 characters that read as "seven percent" x 20: 279 characters
    assert len("seven percent " * 20) > SPOKEN_EXPANSION * len(text)
    async with app_client(_config(tmp_path, limits=Limits(max_text_chars=len(text))), engine) as client:
        body = {"input": text, "voice": "tone", "stream": False, "response_format": "pcm"}
        r = await client.post("/v1/audio/speech", json=body)
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == "input_too_long" and err["param"] == "input" and "spelled out" in err["message"]
        assert not engine.requests  # refused before any synthesis
        r = await client.post("/v1/audio/speech", json={**body, "normalize": False})
        assert r.status_code == 200, r.text


def test_only_the_segment_that_opens_an_answer_may_start_small(tmp_path):
    """``SynthesisRequest.opening``: the first segment of an answer, and of a live session only its first
    plan (later segments are heard after audio is already playing)."""
    from fastapi.testclient import TestClient

    from flashtts.http.app import create_app

    engine = FakeEngine(chunks=1)
    app = create_app(_config(tmp_path, length_threshold=10, window_size=25, allowed_hosts=("testserver",)), engine)
    with TestClient(app) as http:
        r = http.post("/speak", json={"name": "tone", "text": "First sentence here. Second sentence follows.",
                                      "response_format": "pcm"})
        assert r.status_code == 200
        assert [(q.text, q.opening) for q in engine.requests] == [("First sentence here.", True),
                                                                  ("Second sentence follows.", False)]
        engine.requests.clear()
        with http.websocket_connect("/v1/audio/speech/stream") as ws:
            ws.send_json({"type": "start", "voice": "tone"})
            assert ws.receive_json()["type"] == "started"
            ws.send_json({"type": "text", "text": "One sentence here. Another one there. "})
            ws.send_json({"type": "end"})
            while not (m := ws.receive()).get("text") or json.loads(m["text"])["type"] != "done":
                pass
        assert [q.opening for q in engine.requests] == [True, False]
