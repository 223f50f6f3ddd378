"""Acceptance: the Wyoming server, driven by the ``wyoming`` package's own client against a live server.

``describe`` lists voices and roles; ``synthesize`` is intelligible; the streaming form speaks each
sentence as it completes (first audio before ``synthesize-stop``); Wyoming and HTTP clients are
batched together through one engine.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped, SynthesizeVoice

from flashtts.audio import Resampler

from live import reset, resets_leave_no_trace, serving, stats, wait_idle
from support import HARVARD, free_port, until, wer

pytestmark = pytest.mark.slow

THREE = HARVARD[:3]
TIMEOUT = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wyoming")
    port = free_port()
    # room for 16 sentences at once, so that requests arriving together provably run together
    with serving(tmp, "--role_dir", str(tmp / "roles"), "--wyoming_port", str(port),
                 "--engine_opt", "parallel=16") as s:
        s.wyoming_port = port
        yield s


def client(server) -> AsyncTcpClient:
    return AsyncTcpClient("127.0.0.1", server.wyoming_port)


async def read(c: AsyncTcpClient) -> Event:
    event = await asyncio.wait_for(c.read_event(), TIMEOUT)
    assert event is not None, "server closed the connection"
    return event


def to_16k(pcm: bytes, rate: int) -> np.ndarray:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32767.0
    rs = Resampler(rate, 16000)
    return np.concatenate([rs(samples), rs(None)])


async def synthesize(server, text: str, voice: str | None = None) -> tuple[int, bytes]:
    """One ``synthesize``: (rate, PCM) from audio-start / audio-chunks / audio-stop."""
    async with client(server) as c:
        await c.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=voice) if voice else None).event())
        start = await read(c)
        assert AudioStart.is_type(start.type), start
        fmt = AudioStart.from_event(start)
        assert (fmt.width, fmt.channels) == (2, 1)
        pcm = b""
        while True:
            event = await read(c)
            if AudioStop.is_type(event.type):
                return fmt.rate, pcm
            assert AudioChunk.is_type(event.type), event
            pcm += AudioChunk.from_event(event).audio



def stats_json(server, route: str) -> dict:
    """A JSON GET on the server (a quick local answer, read synchronously)."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return client.get(route).json()


async def test_describe_lists_voices_and_roles(server):
    async with client(server) as c:
        await c.write_event(Describe().event())
        info = Info.from_event(await read(c))
    (program,) = info.tts
    assert program.supports_synthesize_streaming
    names = {v.name: v for v in program.voices}
    served = stats_json(server, "/v1/audio/voices")["data"]
    assert set(names) == {v["id"] for v in served}  # built-in voices and roles, nothing else
    assert "joe" in names and {"narrator", "announcer"} <= set(names)
    assert all(v.languages and v.description for v in program.voices)


async def test_synthesize_three_sentences_is_intelligible(server, transcribe):
    info = stats_json(server, "/server_info")
    for sentence in THREE:
        rate, pcm = await synthesize(server, sentence, voice="joe")
        assert rate == info["sample_rate"]
        assert wer(sentence, transcribe(to_16k(pcm, rate))) <= 0.2, sentence


async def test_streaming_speaks_each_sentence_before_the_text_ends(server, transcribe):
    text = " ".join(THREE)
    pieces = [text[i:i + 5] for i in range(0, len(text), 5)]
    events: list[Event] = []
    first_audio = asyncio.Event()
    async with client(server) as c:
        async def reader() -> None:
            while True:
                event = await read(c)
                events.append(event)
                if AudioChunk.is_type(event.type):
                    first_audio.set()
                if SynthesizeStopped.is_type(event.type) or Error.is_type(event.type):
                    return

        task = asyncio.create_task(reader())
        await c.write_event(SynthesizeStart(voice=SynthesizeVoice(name="joe")).event())
        for piece in pieces:
            await c.write_event(SynthesizeChunk(text=piece).event())
            await asyncio.sleep(0.01)
        await c.write_event(Synthesize(text=text).event())  # backward-compatibility copy: must be ignored
        # synthesize-stop is sent only once audio came: a server that waited for it would time out here
        await asyncio.wait_for(first_audio.wait(), TIMEOUT)
        await c.write_event(SynthesizeStop().event())
        await asyncio.wait_for(task, TIMEOUT)
    assert SynthesizeStopped.is_type(events[-1].type), events[-1]
    # one audio-start ... audio-stop per sentence, in order
    spoken: list[bytes] = []
    rate = 0
    for event in events[:-1]:
        if AudioStart.is_type(event.type):
            rate = AudioStart.from_event(event).rate
            spoken.append(b"")
        elif AudioChunk.is_type(event.type):
            spoken[-1] += AudioChunk.from_event(event).audio
        else:
            assert AudioStop.is_type(event.type), event
    assert len(spoken) == len(THREE)
    for sentence, pcm in zip(THREE, spoken, strict=True):
        assert wer(sentence, transcribe(to_16k(pcm, rate))) <= 0.2, sentence


async def test_errors_are_error_events_and_the_connection_stays(server):
    async with client(server) as c:
        await c.write_event(Synthesize(text="Hello.", voice=SynthesizeVoice(name="nobody")).event())
        err = Error.from_event(await read(c))
        assert "nobody" in err.text and err.code == "voice_not_found"
        await c.write_event(SynthesizeChunk(text="orphan").event())
        err = Error.from_event(await read(c))
        assert "synthesize-start" in err.text
        await c.write_event(Synthesize(text="   ").event())
        assert Error.from_event(await read(c)).code == "empty_input"
        await c.write_event(Describe().event())
        assert Info.is_type((await read(c)).type)


async def test_synthesize_reads_ssml(server, transcribe):
    """Issue 21: an SSML document through Wyoming: the alias heard, the break as silence; bad markup an error event."""
    rate, pcm = await synthesize(server, '<speak><sub alias="World Wide Web Consortium">W3C</sub> sets standards.'
                                         '<break time="1s"/> It is easy.</speak>', voice="joe")
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    frames = np.abs(samples[: len(samples) // (rate // 100) * (rate // 100)]).reshape(-1, rate // 100).max(axis=1)
    loud = np.flatnonzero(frames > frames.max() / 100)
    assert 0.95 <= (np.max(np.diff(loud)) - 1) / 100 <= 1.05
    assert "world wide web consortium" in transcribe(to_16k(pcm, rate)).lower()
    async with client(server) as c:
        await c.write_event(Synthesize(text="<speak>unclosed <s>tag</speak>").event())
        err = Error.from_event(await read(c))
        assert err.code == "ssml_malformed" and "line 1, column" in err.text


async def test_wyoming_and_http_clients_share_batches(server):
    """8 Wyoming clients and 4 HTTP clients at once go through one engine queue: more than 8
    sentences running at once in that engine must mix both kinds.

    Piper runs each sentence as soon as it is queued (batching buys it nothing), so what the two
    kinds share is the engine's queue and its runs, counted by ``max_running_items``."""
    wait_idle(server.url)
    before = stats(server.url)
    # one long sentence each (spoken in clauses): seconds of work, so all twelve are in the engine together
    sentence = ("The box was thrown beside the parked truck, and the juice of lemons makes fine punch "
                "while the boy was there when the sun rose.")

    async def http_one(c: httpx.AsyncClient) -> int:
        r = await c.post(server.url + "/v1/audio/speech", json={"model": "tts-1", "voice": "joe", "input": sentence,
                                                                "response_format": "pcm", "stream": False})
        return len(r.content) if r.status_code == 200 else 0

    async with httpx.AsyncClient(timeout=TIMEOUT) as h:
        results = await asyncio.gather(*(synthesize(server, sentence) for _ in range(8)),
                                       *(http_one(h) for _ in range(4)))
    assert all(len(pcm) > 0 for _, pcm in results[:8]) and all(n > 0 for n in results[8:])
    after = wait_idle(server.url)
    assert after["requests_total"] - before["requests_total"] == 12
    assert after["batch_items_total"] - before["batch_items_total"] >= 12  # all through one queue
    assert after["max_running_items"] > 8, after


async def test_a_client_that_leaves_mid_stream_stops_its_work(server):
    before = wait_idle(server.url)
    text = " ".join(HARVARD)
    async with client(server) as c:
        await c.write_event(SynthesizeStart().event())
        await c.write_event(SynthesizeChunk(text=text).event())
        await c.write_event(SynthesizeStop().event())
        while not AudioChunk.is_type((await read(c)).type):
            pass
    after = wait_idle(server.url)
    assert after["requests_aborted_total"] == before["requests_aborted_total"] + 1
    assert after["batch_items_total"] - before["batch_items_total"] < len(HARVARD)


async def test_hostile_framing_gets_an_error_then_a_close(server):
    """Huge declared lengths, bad JSON, a nested bomb: an ``error`` event, the connection closed, nothing buffered."""
    attacks = [
        b'{"type": "synthesize", "data_length": 4000000000}\n',
        b'{"type": "synthesize", "payload_length": 99999999999}\n',
        b'{"type": "synthesize", "data_length": true}\n',
        b'not json at all\n',
        b'["a", "list"]\n',
        b'{"type": "synthesize", "data_length": 200000}\n' + b"[" * 50000,
        b'{"type": "synthesize", "data": ' + b'{"a": ' * 30000 + b'1' + b'}' * 30001 + b'\n',
    ]
    for attack in attacks:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.wyoming_port)
        writer.write(attack)
        await writer.drain()
        header = await asyncio.wait_for(reader.readline(), TIMEOUT)
        rest = await asyncio.wait_for(reader.read(), TIMEOUT)  # then end of stream: the server closed
        writer.close()
        assert b'"type": "error"' in header, (attack[:60], header)
        assert b"invalid_event" in rest or b"invalid_event" in header, (attack[:60], rest[:200])
    rate, pcm = await synthesize(server, "Still here.")  # and the server goes on
    assert len(pcm) > rate  # over half a second of audio
    assert stats(server.url)["active_requests"] == 0


async def test_wrong_typed_fields_of_every_event_are_invalid_events(server):
    """Every field a handler reads, given the wrong type: ``invalid_event`` naming it, never ``internal_error``."""
    from flashtts.wyoming.events import EVENT_FIELDS, VOICE_FIELDS

    cases = []
    for kind, fields in EVENT_FIELDS.items():
        good = {"text": "Hello."} if "text" in fields else {}
        for name, types in fields.items():
            cases += [(kind, {**good, name: bad}, name) for bad in (5, [name], True) if not isinstance(bad, types)]
            if name == "voice":
                cases += [(kind, {**good, "voice": {key: 5}}, f"voice.{key}") for key in VOICE_FIELDS]
    cases.append(("synthesize", {}, "text"))  # absent where required
    async with client(server) as c:
        for kind, data, field in cases:
            await c.write_event(Event(type=kind, data=data))
            reply = await read(c)
            assert Error.is_type(reply.type), (kind, data, reply)
            err = Error.from_event(reply)
            assert err.code == "invalid_event" and f"'{field}'" in err.text, (kind, data, err)
        rate, pcm = await synthesize(server, "Still here.")  # the server, and the connection's peers, go on
    assert len(pcm) > rate // 2
    assert "internal_error" not in server.log_path.read_text()


async def test_clients_that_reset_their_connection_leave_no_error_in_the_log(server):
    """100 resets (mid-answer, mid-stream, idle): at most one INFO line each; no ERROR, no traceback."""
    wait_idle(server.url)
    text = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."

    async def one(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.wyoming_port)
        if n % 3 == 0:  # mid-answer
            writer.write((json.dumps({"type": "synthesize", "data": {"text": text}}) + "\n").encode())
            await writer.drain()
            await asyncio.wait_for(reader.readline(), TIMEOUT)
        elif n % 3 == 1:  # mid-stream, text pending
            writer.write(b'{"type": "synthesize-start", "data": {}}\n' + (json.dumps(
                {"type": "synthesize-chunk", "data": {"text": text}}) + "\n").encode())
            await writer.drain()
            await asyncio.wait_for(reader.readline(), TIMEOUT)
        else:  # between events
            writer.write(b'{"type": "describe"}\n')
            await writer.drain()
            await asyncio.wait_for(reader.readline(), TIMEOUT)
        reset(writer.transport)

    mark = await resets_leave_no_trace(server, one, 100, 10)
    assert server.log_path.read_bytes()[mark:].count(b"wyoming client") <= 100  # one INFO line at most each
    rate, pcm = await synthesize(server, "Still here.")
    assert len(pcm) > rate // 2


async def test_idle_sessions_of_one_client_never_shut_out_its_http_requests(server):
    """200 idle WebSocket sessions and 200 Wyoming ``synthesize-start``s from one address: beyond the
    per-client session limit they are refused (close 1013 / ``too_many_sessions``), the rest hold no
    admission slot; a speech request from that address is answered 200 throughout, and the idle
    sessions end with ``idle_timeout`` after the documented 20 s."""
    import time

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from flashtts.config.settings import Limits

    idle_limit = Limits().live_idle_timeout
    per_client = Limits().max_live_sessions_per_client
    ws_url = server.url.replace("http://", "ws://") + "/v1/audio/speech/stream"
    wait_idle(server.url)
    ended: dict[str, list[float]] = {"ws": [], "wyoming": []}
    refused: dict[str, int] = {"ws": 0, "wyoming": 0}
    probes: list[tuple[int, float]] = []
    holders: list = []

    async def ws_session() -> None:
        ws = await connect(ws_url, open_timeout=TIMEOUT)
        holders.append(ws)
        opened = time.monotonic()
        try:
            await ws.send(json.dumps({"type": "start", "voice": "joe"}))
        except ConnectionClosed:  # refused at once: its error message is waiting
            pass
        reply = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if reply["type"] == "error":
            assert reply["error"]["code"] == "too_many_sessions", reply
            await ws.wait_closed()
            assert ws.close_code == 1013
            refused["ws"] += 1
            return
        assert reply["type"] == "started"
        reply = json.loads(await asyncio.wait_for(ws.recv(), idle_limit + TIMEOUT))
        assert reply["type"] == "error" and reply["error"]["code"] == "idle_timeout", reply
        ended["ws"].append(time.monotonic() - opened)
        await ws.wait_closed()
        assert ws.close_code == 1008

    async def wyoming_session() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.wyoming_port)
        holders.append(writer)
        writer.write(b'{"type": "synthesize-start", "data": {"voice": {"name": "joe"}}}\n')
        await writer.drain()
        opened = time.monotonic()
        line = await asyncio.wait_for(reader.readline(), idle_limit + TIMEOUT)
        event = json.loads(line)
        if event.get("data_length"):
            event["data"] = json.loads(await reader.readexactly(event["data_length"]))
        assert event["type"] == "error", event
        if event["data"]["code"] == "too_many_sessions":
            refused["wyoming"] += 1
        else:
            assert event["data"]["code"] == "idle_timeout", event
            ended["wyoming"].append(time.monotonic() - opened)
        writer.close()

    async def probe(until: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT) as h:
            while not until.is_set():
                sent = time.monotonic()
                r = await h.post(server.url + "/v1/audio/speech", json={"input": "Hello.", "voice": "joe",
                                                                        "response_format": "wav"})
                probes.append((r.status_code, time.monotonic() - sent))
                await asyncio.sleep(0.5)

    done = asyncio.Event()
    prober = asyncio.create_task(probe(done))
    # half the places to each kind first, then everything else at once
    first = [asyncio.create_task(ws_session()) for _ in range(per_client // 2)]
    first += [asyncio.create_task(wyoming_session()) for _ in range(per_client // 2)]
    await until(lambda: stats(server.url)["live_sessions"] >= per_client, timeout=120, every=0.1)
    await asyncio.gather(*first, *(ws_session() for _ in range(200 - per_client // 2)),
                         *(wyoming_session() for _ in range(200 - per_client // 2)))
    done.set()
    await prober
    for holder in holders:
        holder.close() if isinstance(holder, asyncio.StreamWriter) else await holder.close()
    print(f"probes: {len(probes)}, slowest {max(t for _, t in probes):.2f} s; idle ends after "
          f"{min(ended['ws'] + ended['wyoming']):.1f}-{max(ended['ws'] + ended['wyoming']):.1f} s")
    assert {status for status, _ in probes} == {200} and len(probes) >= idle_limit  # one every ~0.5-1 s
    assert len(ended["ws"]) + len(ended["wyoming"]) == per_client
    assert ended["ws"] and ended["wyoming"]
    assert refused["ws"] + refused["wyoming"] == 400 - per_client
    # ended at the documented time: not before it (and not much after)
    assert all(idle_limit - 0.5 <= t <= idle_limit + 10 for t in ended["ws"] + ended["wyoming"]), ended
    after = wait_idle(server.url)
    assert after["live_sessions"] == 0
