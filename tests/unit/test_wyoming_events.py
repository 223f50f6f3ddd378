"""Bounded Wyoming framing (flashtts.wyoming.events): limits on every part, and no stuck writes."""

from __future__ import annotations

import asyncio
import json

import pytest
from wyoming.tts import Synthesize, SynthesizeVoice

from flashtts.wyoming import events as wyoming_events
from flashtts.wyoming.events import MAX_DATA_BYTES, WyomingProtocolError, read_event, write_event


def _reader(raw: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=wyoming_events.MAX_HEADER_BYTES)
    reader.feed_data(raw)
    reader.feed_eof()
    return reader


def _wire(header: dict, data: bytes = b"") -> bytes:
    return json.dumps(header).encode() + b"\n" + data


async def test_a_real_event_reads_as_the_wyoming_package_wrote_it():
    event = Synthesize(text="Hello there.", voice=SynthesizeVoice(name="joe")).event()
    data = json.dumps(event.data).encode()
    read = await read_event(_reader(_wire({"type": event.type, "data_length": len(data)}, data)))
    assert read is not None and Synthesize.from_event(read) == Synthesize.from_event(event)
    assert await read_event(_reader(b"")) is None


@pytest.mark.parametrize("raw, says", [
    (_wire({"type": "synthesize", "data_length": MAX_DATA_BYTES + 1}), "data_length"),
    (_wire({"type": "synthesize", "payload_length": 10**12}), "payload_length"),
    (_wire({"type": "synthesize", "data_length": -1}), "non-negative"),
    (_wire({"type": "synthesize", "data_length": 1.5}), "non-negative"),
    (_wire({"type": "synthesize", "data": [1, 2]}), "object"),
    (_wire({"data": {}}), "no type"),
    (b"[1]\n", "object"),
    (b"{nope\n", "JSON"),
    (b"x" * (wyoming_events.MAX_HEADER_BYTES + 10) + b"\n", "longer"),
    (_wire({"type": "synthesize", "data_length": 40000}, b"[" * 40000), "JSON"),
])
async def test_broken_or_oversized_events_are_refused(raw, says):
    with pytest.raises(WyomingProtocolError, match=says):
        await read_event(_reader(raw))


async def test_a_client_that_stops_reading_is_cut_off():
    accepted: list[asyncio.StreamWriter] = []

    async def never_read(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    chunk = Synthesize(text="x" * 60000).event()
    with pytest.raises(ConnectionResetError, match="read nothing"):
        for _ in range(10000):  # the socket buffers fill within a few MB; then a write stalls
            await write_event(chunk, writer, timeout=0.3)
    assert writer.transport.is_closing()
    server.close()
    for w in accepted:
        w.close()
