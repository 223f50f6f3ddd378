"""Reading and writing Wyoming events with bounds a hostile client cannot lift.

The ``wyoming`` package's own reader trusts the header: ``data_length`` / ``payload_length`` of a
few GB make it buffer whatever the client sends, and a nested ``data`` object can raise
``RecursionError``. A TTS server receives only small events (text, voice names), so here every
part has a size limit, the header must be a JSON object with a string ``type``, and a breach is a
:class:`WyomingProtocolError` (answered with an ``error`` event, then the connection is closed:
the byte stream can no longer be trusted). Each field an event's handler reads is type-checked
first (:func:`check_fields`): a wrong type is an ``invalid_event`` naming the field. A write that a
client does not read within ``--send_timeout`` ends the connection (:class:`SlowClientError`), so a
peer that stops reading cannot hold a synthesis slot.
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


class WyomingFieldError(ValueError):
    """A field of an event has the wrong type (answered with ``invalid_event``; the connection goes on)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class SlowClientError(ConnectionResetError):
    """The client took no data for ``--send_timeout`` seconds; the connection was cut."""


_STR = (str,)
_OPTIONAL_STR = (str, type(None))
_OPTIONAL_OBJECT = (dict, type(None))
_NAMES = {str: "a string", dict: "an object", type(None): "null"}
_JSON_NAMES = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
               dict: "an object", type(None): "null"}
VOICE_FIELDS = {"name": _OPTIONAL_STR, "language": _OPTIONAL_STR, "speaker": _OPTIONAL_STR}
"""The fields of a ``voice`` object."""
EVENT_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "ping": {"text": _OPTIONAL_STR},
    "synthesize": {"text": _STR, "voice": _OPTIONAL_OBJECT, "text_format": _OPTIONAL_STR,
                   "context": _OPTIONAL_OBJECT},
    "synthesize-start": {"voice": _OPTIONAL_OBJECT, "text_format": _OPTIONAL_STR, "context": _OPTIONAL_OBJECT},
    "synthesize-chunk": {"text": _STR},
}
"""The data fields each event's handler reads, with the types they may have (absent means null)."""


def _check(event_type: str, where: str, value: object, types: tuple[type, ...]) -> None:
    if not isinstance(value, types):
        wanted = " or ".join(_NAMES[t] for t in types)
        got = _JSON_NAMES.get(type(value), type(value).__name__)
        raise WyomingFieldError(f"{event_type}: field '{where}' must be {wanted}, not {got}", where)


def check_fields(event: Event) -> Event:
    """``event`` with its null fields dropped (the ``wyoming`` package reads absent ones only);
    :class:`WyomingFieldError` naming the first field whose type is wrong."""
    fields = EVENT_FIELDS.get(event.type)
    if fields is None:
        return event
    for name, types in fields.items():
        value = event.data.get(name)
        _check(event.type, name, value, types)
        if name == "voice" and isinstance(value, dict):
            for key, key_types in VOICE_FIELDS.items():
                _check(event.type, f"voice.{key}", value.get(key), key_types)
    return Event(type=event.type, data={k: v for k, v in event.data.items() if v is not None}, payload=event.payload)


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
    if writer.transport.is_closing():
        raise ConnectionResetError("the connection is closed")
    try:
        await asyncio.wait_for(async_write_event(event, writer), timeout or None)
    except RuntimeError:  # uvloop: the transport closed under the write (the client reset it)
        if not writer.transport.is_closing():
            raise
        raise ConnectionResetError("the connection is closed") from None
    except asyncio.TimeoutError:
        writer.transport.abort()
        raise SlowClientError(f"the client read nothing for {timeout:g} s") from None
