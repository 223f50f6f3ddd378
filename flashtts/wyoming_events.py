"""Reading and writing Wyoming events with bounds a hostile client cannot lift.

The ``wyoming`` package's own reader trusts the header: ``data_length`` / ``payload_length`` of a
few GB make it buffer whatever the client sends, and a nested ``data`` object can raise
``RecursionError``. A TTS server receives only small events (text, voice names), so here every
part has a size limit, the header must be a JSON object with a string ``type``, and a breach is a
:class:`WyomingProtocolError` (answered with an ``error`` event, then the connection is closed:
the byte stream can no longer be trusted). A write that a client does not read within
``--send_timeout`` ends the connection, so a peer that stops reading cannot hold a synthesis slot.
"""

from __future__ import annotations

import asyncio
import json

from wyoming.event import Event, async_write_event

MAX_HEADER_BYTES = 64 * 1024
"""The JSON header line (asyncio's stream reader limit)."""
MAX_DATA_BYTES = 64 * 1024
"""The extra ``data`` JSON after the header (a synthesize event's text is at most a few KiB)."""
MAX_PAYLOAD_BYTES = 1024 * 1024
"""A binary payload (TTS clients send none; tolerated up to this size and ignored)."""


class WyomingProtocolError(ValueError):
    """The client broke the framing or a size limit; the connection cannot go on."""


def _length(header: dict, key: str, most: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WyomingProtocolError(f"{key} must be a non-negative integer")
    if value > most:
        raise WyomingProtocolError(f"{key} is {value} bytes; at most {most} accepted")
    return value


def _json_object(raw: bytes, what: str) -> dict:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise WyomingProtocolError(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise WyomingProtocolError(f"{what} must be a JSON object")
    return value


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event, or None at end of stream; raises :class:`WyomingProtocolError` on bad input."""
    try:
        line = await reader.readline()
    except ValueError:  # asyncio: the line passed the reader's limit
        raise WyomingProtocolError(f"event header longer than {MAX_HEADER_BYTES} bytes") from None
    if not line:
        return None
    header = _json_object(line, "event header")
    kind = header.get("type")
    if not isinstance(kind, str) or not kind:
        raise WyomingProtocolError("event header has no type")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise WyomingProtocolError("event data must be a JSON object")
    data_length = _length(header, "data_length", MAX_DATA_BYTES)
    payload_length = _length(header, "payload_length", MAX_PAYLOAD_BYTES)
    try:
        if data_length:
            data = {**data, **_json_object(await reader.readexactly(data_length), "event data")}
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        return None  # the client left mid-event
    return Event(type=kind, data=data, payload=payload)


async def write_event(event: Event, writer: asyncio.StreamWriter, timeout: float) -> None:
    """Send one event; a client that reads nothing for ``timeout`` seconds (0: no limit) is cut off."""
    try:
        await asyncio.wait_for(async_write_event(event, writer), timeout or None)
    except asyncio.TimeoutError:
        writer.transport.abort()
        raise ConnectionResetError(f"the client read nothing for {timeout:g} s") from None
