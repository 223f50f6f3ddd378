"""Test helpers shared by every test module: real servers on loopback, in-process apps, WER.

Import them with ``from support import ...`` (``tests/`` is on pytest's ``pythonpath``).
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import numpy as np
from asgi_lifespan import LifespanManager

from flashtts.app import create_app
from flashtts.config import ServerConfig
from flashtts.live_server import LiveServer as _LiveServer
from flashtts.live_server import free_port  # noqa: F401  (re-exported)

ROOT = Path(__file__).resolve().parent.parent

# Five Harvard sentences that whisper tiny.en hears reliably in Piper's joe voice. Piper's output is
# random (VITS noise, no seed), so sentences were chosen by measurement (tools/sentence_reliability.py,
# WER > 0.2 in N syntheses): the first three 0 of 100 each (tests that check one sentence at a time
# take them), "juice" 3 of 100 and "glue" 2 of 100 (used only inside longer texts). Left out: "The
# birch canoe slid on the smooth planks." (heard as "can use lid" nearly always), "These days a
# chicken leg is a rare dish." (10 of 30), "Rice is often served in round bowls." (2 of 30, heard as
# "Rises often served": it once turned CI red).
HARVARD = [
    "It's easy to tell the depth of a well.",
    "The boy was there when the sun rose.",
    "The box was thrown beside the parked truck.",
    "The juice of lemons makes fine punch.",
    "Glue the sheet to the dark blue background.",
]


@asynccontextmanager
async def app_client(config: ServerConfig, engine=None) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to a fresh app in-process (lifespan run, engine started)."""
    app = create_app(config, engine)
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=120) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


class WebSocketClosed(Exception):
    """The app closed the WebSocket (or refused its handshake): ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code = code
        self.reason = reason


class AppWebSocket:
    """A WebSocket to an ASGI app in-process: the messages go through its middleware and route, no socket.

    ``async with AppWebSocket(client.app, "/v1/audio/speech/stream") as ws`` (inside :func:`app_client`);
    :meth:`receive` returns a JSON message as a dict, a binary frame as bytes, and raises
    :class:`WebSocketClosed` once the app closes.
    """

    def __init__(self, app: Any, path: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        self._app = app
        self._path = path
        self._headers = [(b"host", b"localhost"), *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]
        self._timeout = timeout
        self._to_app: asyncio.Queue[dict] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self.closed: WebSocketClosed | None = None

    async def __aenter__(self) -> AppWebSocket:
        scope = {"type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "ws",
                 "path": self._path, "raw_path": self._path.encode(), "query_string": b"", "root_path": "",
                 "headers": self._headers, "client": ("127.0.0.1", 50000), "server": ("localhost", 80),
                 "subprotocols": []}
        self._task = asyncio.ensure_future(self._app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "websocket.connect"})
        first = await self._next()
        if first["type"] != "websocket.accept":
            raise AssertionError(f"handshake not accepted: {first}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._to_app.put({"type": "websocket.disconnect", "code": 1000})
        assert self._task is not None
        try:
            await asyncio.wait_for(self._task, self._timeout)
        finally:
            if not self._task.done():
                self._task.cancel()

    async def _next(self) -> dict:
        message = await asyncio.wait_for(self._from_app.get(), self._timeout)
        if message["type"] == "websocket.close":
            self.closed = WebSocketClosed(message.get("code", 1000), message.get("reason") or "")
            raise self.closed
        return message

    async def send_json(self, value: Any) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": json.dumps(value)})

    async def send_text(self, text: str) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self._to_app.put({"type": "websocket.receive", "bytes": data})

    async def receive(self) -> dict | bytes:
        message = await self._next()
        if message.get("bytes") is not None:
            return message["bytes"]
        return json.loads(message["text"])

    async def messages(self) -> list[dict | bytes]:
        """Every message until the app closes the socket (then :attr:`closed` holds how)."""
        out: list[dict | bytes] = []
        try:
            while True:
                out.append(await self.receive())
        except WebSocketClosed:
            return out


class LiveServer(_LiveServer):
    """A real ``flashtts serve`` process on loopback, run from the repository root."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(args, log_path, env, cwd=ROOT)

    def start(self, timeout: float = 120.0) -> "LiveServer":
        super().start(timeout)
        return self


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after lower-casing and dropping punctuation."""
    import jiwer

    def norm(t: str) -> str:
        return " ".join("".join(ch for ch in t.lower() if ch.isalnum() or ch.isspace() or ch == "'").split())

    return jiwer.wer(norm(reference), norm(hypothesis))
