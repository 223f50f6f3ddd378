"""Live sessions in-process on the fake engine: an admission slot only while there is text to speak,
the session limits, the idle timer, Wyoming's field types, and the shutdown drain."""

from __future__ import annotations

import asyncio
import json

import pytest
from wyoming.event import Event

from flashtts.config.settings import Limits, ServerConfig
from flashtts.errors import APIError
from flashtts.serving import SpeechService
from flashtts.serving.admission import QueueFullError
from flashtts.serving.live import LiveOptions, LiveSpeech, SegmentEnd
from flashtts.serving.sessions import LiveSessions, TooManySessionsError
from flashtts.voices.registry import SpeakerRegistry
from flashtts.wyoming.events import EVENT_FIELDS, VOICE_FIELDS, WyomingFieldError, check_fields

from fakes import FakeEngine
from support import app_client, free_port, until

CLIENT = "addr:192.0.2.1"


def _service(tmp_path, queue_limit: int = 64, **limits) -> tuple[SpeechService, FakeEngine]:
    engine = FakeEngine(chunks=2, chunk_seconds=0.05)
    config = ServerConfig(role_dir=tmp_path / "roles", queue_limit=queue_limit, limits=Limits(**limits))
    return SpeechService(config, engine, SpeakerRegistry(config.role_dir), engine.metrics), engine


def _session(service: SpeechService) -> LiveSpeech:
    return LiveSpeech.open(service, "test", LiveOptions(service.voices.resolve_voice("tone")), CLIENT)


def _listen(live: LiveSpeech) -> tuple[list, asyncio.Task]:
    """Collect the session's events in a task: (the events so far, the task)."""
    seen: list = []

    async def consume() -> None:
        async for event in live.events():
            seen.append(event)

    return seen, asyncio.create_task(consume())


async def test_a_session_holds_a_slot_only_while_it_has_text_to_speak(tmp_path):
    service, engine = _service(tmp_path)
    engine.gate = asyncio.Event()
    live = _session(service)
    seen, task = _listen(live)
    await asyncio.sleep(0.05)
    assert service.admission.in_flight == 0  # open, waiting for text: no slot
    live.add("Hello there. ")
    await until(lambda: engine.requests)
    assert service.admission.in_flight == 1 and service.admission.by_client == {CLIENT: 1}
    engine.gate.set()
    await until(lambda: any(isinstance(e, SegmentEnd) for e in seen))
    await until(lambda: service.admission.in_flight == 0)  # spoken: the slot goes back
    assert service.admission.by_client == {}
    engine.gate.clear()
    live.add("And again. ")
    await until(lambda: len(engine.requests) == 2)
    assert service.admission.in_flight == 1
    engine.gate.set()
    live.end()
    await asyncio.wait_for(task, 10)
    live.close()
    assert service.admission.in_flight == 0
    assert service.metrics.counters["requests_total"] == 1  # one session, one request, however many slots


async def test_a_full_server_refuses_a_sessions_text_not_its_opening(tmp_path):
    service, _ = _service(tmp_path, queue_limit=1)
    held = service.execution.admit("addr:other")  # an HTTP request holds the only slot
    live = _session(service)  # opening needs no slot
    live.add("Hello there. ")
    with pytest.raises(QueueFullError):
        async for _ in live.events():
            pass
    held.release()
    assert service.admission.in_flight == 0


async def test_a_session_under_way_waits_for_a_slot_rather_than_failing(tmp_path):
    service, engine = _service(tmp_path, queue_limit=1)
    live = _session(service)
    seen, task = _listen(live)
    live.add("First one. ")
    await until(lambda: sum(isinstance(e, SegmentEnd) for e in seen) == 1 and not service.admission.in_flight)
    held = service.execution.admit("addr:other")  # between two sentences another request takes the only slot
    live.add("Second one. ")
    await asyncio.sleep(0.3)
    assert len(engine.requests) == 1 and not task.done()  # waiting, not failed
    held.release()
    live.end()
    await asyncio.wait_for(task, 10)
    assert sum(isinstance(e, SegmentEnd) for e in seen) == 2


async def test_a_session_without_text_ends_with_idle_timeout(tmp_path):
    service, _ = _service(tmp_path, live_idle_timeout=1.0)
    live = _session(service)

    async def feed(piece: str, seconds: float) -> None:
        for _ in range(int(seconds / 0.1)):
            live.add(piece)
            await asyncio.sleep(0.1)

    events = live.events()
    # text that completes no sentence still keeps the session alive, for longer than the idle limit
    feeder = asyncio.create_task(feed("word ", 2.5))
    next_event = asyncio.ensure_future(events.__anext__())
    await asyncio.wait_for(feeder, 10)
    assert not next_event.done()
    # empty pieces do not: the session ends
    feeder = asyncio.create_task(feed("", 30))
    with pytest.raises(APIError) as ended:
        await asyncio.wait_for(next_event, 10)
    feeder.cancel()
    assert ended.value.code == "idle_timeout" and ended.value.kind == "idle_timeout"
    assert service.metrics.counters["live_sessions_idle_timeout_total"] == 1
    assert service.admission.in_flight == 0


def test_session_places_are_bounded_per_client_and_in_all(tmp_path):
    service, _ = _service(tmp_path)
    sessions = LiveSessions(limit=3, per_client=2, metrics=service.metrics, retry_after=20)
    a1, a2 = sessions.open("a"), sessions.open("a")
    with pytest.raises(TooManySessionsError) as refused:
        sessions.open("a")
    assert refused.value.code == "too_many_sessions" and "this client" in str(refused.value)
    assert refused.value.retry_after == 20
    b1 = sessions.open("b")
    with pytest.raises(TooManySessionsError) as full:
        sessions.open("c")
    assert "the server has 3" in str(full.value)
    a1.close()
    a1.close()  # idempotent
    assert sessions.open_count == 2 and sessions.by_client == {"a": 1, "b": 1}
    sessions.open("c")
    a2.close()
    b1.close()
    assert service.metrics.live_sessions == 1 and service.metrics.counters["live_sessions_refused_total"] == 2


# ---- the WebSocket route ----------------------------------------------------------------------
def _ws_app(tmp_path, **config):
    from fastapi.testclient import TestClient

    from flashtts.http.app import create_app

    limits = Limits(**config.pop("limits", {}))
    cfg = ServerConfig(role_dir=tmp_path / "roles", allowed_hosts=("testserver",), limits=limits, **config)
    return TestClient(create_app(cfg, FakeEngine(chunks=1, chunk_seconds=0.05)))


def test_idle_sockets_hold_no_slot_and_are_bounded_per_client(tmp_path):
    with _ws_app(tmp_path, queue_limit=1, limits={"max_live_sessions_per_client": 3}) as http:
        sockets = [http.websocket_connect("/v1/audio/speech/stream").__enter__() for _ in range(3)]
        for ws in sockets:
            ws.send_json({"type": "start", "voice": "tone"})
            assert ws.receive_json()["type"] == "started"
        r = http.post("/v1/audio/speech", json={"input": "Hello.", "voice": "tone", "stream": False})
        assert r.status_code == 200  # three idle sessions, a queue of one: still served
        with http.websocket_connect("/v1/audio/speech/stream") as extra:
            reply = extra.receive_json()
            assert reply["type"] == "error" and reply["error"]["code"] == "too_many_sessions"
            assert extra.receive()["code"] == 1013
        info = http.get("/server_info").json()["stats"]
        assert info["live_sessions"] == 3 and info["active_requests"] == 0
        assert info["live_sessions_refused_total"] == 1
        for ws in sockets:
            ws.__exit__(None, None, None)


def test_a_silent_socket_ends_with_idle_timeout(tmp_path):
    with _ws_app(tmp_path, limits={"live_idle_timeout": 0.5}) as http:
        with http.websocket_connect("/v1/audio/speech/stream") as ws:  # no start message at all
            reply = ws.receive_json()
            assert reply["type"] == "error" and reply["error"]["code"] == "idle_timeout"
            assert ws.receive()["code"] == 1008
        with http.websocket_connect("/v1/audio/speech/stream") as ws:  # started, then spoke, then silent
            ws.send_json({"type": "start", "voice": "tone"})
            assert ws.receive_json()["type"] == "started"
            ws.send_json({"type": "text", "text": "Hello there. "})
            kinds = []
            while not kinds or kinds[-1] != "error":
                message = ws.receive()
                kinds.append("audio" if message.get("bytes") else json.loads(message["text"])["type"])
            assert kinds[0] == "segment" and "audio" in kinds
            assert ws.receive()["code"] == 1008
        stats = http.get("/server_info").json()["stats"]
        assert stats["live_sessions"] == 0 and stats["active_requests"] == 0


# ---- Wyoming ----------------------------------------------------------------------------------
WRONG = (5, 1.5, True, [], ["x"], {"a": 1})


def test_every_field_of_every_event_is_type_checked():
    for kind, fields in EVENT_FIELDS.items():
        good = {"text": "Hi."} if "text" in fields else {}
        for name, types in fields.items():
            for value in WRONG + ((None,) if type(None) not in types else ()):
                if isinstance(value, types):
                    continue
                with pytest.raises(WyomingFieldError) as bad:
                    check_fields(Event(kind, {**good, name: value}))
                assert bad.value.field == name and f"'{name}'" in str(bad.value)
        if "voice" in fields:
            for key in VOICE_FIELDS:
                with pytest.raises(WyomingFieldError) as bad:
                    check_fields(Event(kind, {**good, "voice": {key: 5}}))
                assert bad.value.field == f"voice.{key}"
    cleaned = check_fields(Event("synthesize", {"text": "Hi.", "voice": None, "context": None}))
    assert cleaned.data == {"text": "Hi."}


async def _wyoming(tmp_path, **limits):
    port = free_port()
    config = ServerConfig(role_dir=tmp_path / "roles", wyoming_port=port, limits=Limits(**limits))
    return port, app_client(config, FakeEngine(chunks=1, chunk_seconds=0.05))


async def _exchange(reader, writer, event: dict) -> dict:
    writer.write((json.dumps(event) + "\n").encode())
    await writer.drain()
    return await _read(reader)


async def _read(reader) -> dict:
    header = json.loads(await asyncio.wait_for(reader.readline(), 10))
    if header.get("data_length"):
        header["data"] = {**header.get("data", {}), **json.loads(await reader.readexactly(header["data_length"]))}
    if header.get("payload_length"):
        await reader.readexactly(header["payload_length"])
    return header


async def test_wrong_field_types_are_invalid_events_and_the_connection_goes_on(tmp_path):
    port, client = await _wyoming(tmp_path)
    async with client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        cases = [("synthesize", {"text": 5}, "text"), ("synthesize", {}, "text"),
                 ("synthesize", {"text": "Hi.", "voice": "tone"}, "voice"),
                 ("synthesize", {"text": "Hi.", "voice": {"name": ["tone"]}}, "voice.name"),
                 ("synthesize", {"text": "Hi.", "context": 3}, "context"),
                 ("synthesize-start", {"voice": {"language": 1}}, "voice.language"),
                 ("synthesize-start", {"text_format": {}}, "text_format"),
                 ("synthesize-chunk", {"text": None}, "text"), ("ping", {"text": [1]}, "text")]
        for kind, data, field in cases:
            reply = await _exchange(reader, writer, {"type": kind, "data": data})
            assert reply["type"] == "error", (kind, data, reply)
            assert reply["data"]["code"] == "invalid_event" and f"'{field}'" in reply["data"]["text"], reply
        assert (await _exchange(reader, writer, {"type": "ping", "data": {"text": "still here"}}))["data"] == {
            "text": "still here"}
        writer.close()


async def test_a_silent_wyoming_stream_ends_with_idle_timeout(tmp_path):
    port, client = await _wyoming(tmp_path, live_idle_timeout=0.5)
    async with client as http:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b'{"type": "synthesize-start", "data": {}}\n')
        await writer.drain()
        reply = await _read(reader)
        assert reply["type"] == "error" and reply["data"]["code"] == "idle_timeout"
        reply = await _exchange(reader, writer, {"type": "synthesize-chunk", "data": {"text": "Late. "}})
        assert reply["data"]["code"] == "no_stream"  # the stream is over; the connection is not
        service = http.app.state.service
        assert service.metrics.live_sessions == 0 and service.admission.in_flight == 0
        writer.close()


# ---- shutdown drain ---------------------------------------------------------------------------
async def test_draining_refuses_new_requests_and_counts_those_in_flight(tmp_path):
    engine = FakeEngine(chunks=1)
    engine.gate = asyncio.Event()
    async with app_client(ServerConfig(role_dir=tmp_path / "roles"), engine) as client:
        drain = client.app.state.drain  # type: ignore[attr-defined]
        first = asyncio.ensure_future(client.post("/v1/audio/speech", json={"input": "One.", "voice": "tone",
                                                                           "stream": False}))
        await until(lambda: engine.requests)
        assert drain.busy() == 1
        await drain.begin()
        refused = await client.post("/v1/audio/speech", json={"input": "Two.", "voice": "tone"})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
        assert refused.json()["error"]["code"] == "shutting_down"
        ready = await client.get("/ready")
        assert ready.status_code == 503 and ready.json()["draining"] is True
        assert (await client.get("/health")).status_code == 200
        engine.gate.set()
        assert (await first).status_code == 200  # the request in flight finished
        assert drain.busy() == 0
