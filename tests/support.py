"""Test helpers shared by every test module: real servers on loopback, in-process apps, WER.

Import them with ``from support import ...`` (``tests/`` is on pytest's ``pythonpath``).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from difflib import SequenceMatcher
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import httpx
import numpy as np
import pytest
from asgi_lifespan import LifespanManager

from flashtts.config.settings import ServerConfig
from flashtts.engine import Engine, SynthesisRequest, TimedChunk
from flashtts.http.app import create_app
from tools.live_server import LiveServer as _LiveServer
from tools.live_server import free_port  # noqa: F401  (re-exported)

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


IN_CI = os.environ.get("CI") == "true"
"""CI (``CI=true``) installs every extra: there a missing part is a failure, never a skip."""


def unavailable(reason: str) -> NoReturn:
    """Skip the test (or the module, at import) for a part a developer machine may lack; fail in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing part fails, never skips)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def need(module: str, why: str = "") -> ModuleType:
    """``import module``, or :func:`unavailable` (a skip on a developer machine, a failure in CI)."""
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken install failing as it loads
        unavailable(f"{module} cannot be imported ({type(exc).__name__}: {exc}){'; ' + why if why else ''}")


@asynccontextmanager
async def app_client(config: ServerConfig, engine=None) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to a fresh app in-process (lifespan run, engine started)."""
    app = create_app(config, engine)
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=120) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def until(condition: Callable[[], bool], timeout: float = 30.0, every: float = 0.01) -> None:
    """Wait (polling every ``every`` seconds) until ``condition()`` holds; AssertionError after ``timeout`` s."""
    for _ in range(int(timeout / every)):
        if condition():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"not true after {timeout:g} s")


class AppStream:
    """One HTTP request to an ASGI app in-process whose answer is read as the app sends it.

    (httpx's ASGITransport hands the body over only once the app has finished.) ``async with
    AppStream(client.app, "POST", "/v1/audio/speech", json=...) as r``: ``r.status``, ``r.headers``,
    then ``async for part in r`` as each part is sent; leaving the block early is the client going away
    (``http.disconnect``).
    """

    def __init__(self, app: Any, method: str, path: str, *, json_body: Any = None,
                 headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        self._app = app
        self._body = b"" if json_body is None else json.dumps(json_body).encode()
        hdrs = {"host": "localhost", **({"content-type": "application/json"} if json_body is not None else {}),
                **{k.lower(): v for k, v in (headers or {}).items()}}
        self._scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                       "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                       "root_path": "", "client": ("127.0.0.1", 50000), "server": ("localhost", 80),
                       "headers": [(k.encode(), v.encode()) for k, v in hdrs.items()]
                       + [(b"content-length", str(len(self._body)).encode())]}
        self._timeout = timeout
        self._sent: asyncio.Queue[dict] = asyncio.Queue()
        self._gone = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._body_sent = False
        self.done = False
        self.status = 0
        self.headers: dict[str, str] = {}

    async def _receive(self) -> dict:
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def __aenter__(self) -> AppStream:
        self._task = asyncio.ensure_future(self._app(self._scope, self._receive, self._sent.put))
        start = await asyncio.wait_for(self._sent.get(), self._timeout)
        assert start["type"] == "http.response.start", start
        self.status = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
        return self

    def __aiter__(self) -> AppStream:
        return self

    async def __anext__(self) -> bytes:
        while not self.done:
            message = await asyncio.wait_for(self._sent.get(), self._timeout)
            self.done = not message.get("more_body", False)
            if message.get("body"):
                return message["body"]
        raise StopAsyncIteration

    async def read(self) -> bytes:
        return b"".join([part async for part in self])

    async def __aexit__(self, *exc: object) -> None:
        self._gone.set()  # a client that leaves before the end disconnects
        assert self._task is not None
        await asyncio.wait_for(self._task, self._timeout)


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
        given = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        self._headers = [(b"host", b"localhost"), *given]
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


@asynccontextmanager
async def started(engine: Engine) -> AsyncIterator[Engine]:
    """A real engine started for the block (a module fixture's), stopped after it."""
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def speak_timed(engine: Engine, request: SynthesisRequest) -> tuple[np.ndarray, list]:
    """A started engine's answer to a request with ``timestamps``, validated first: the audio joined, and
    the timed words."""
    engine.validate(request)
    audio, words = [], []
    async for chunk in engine.synthesize(request):
        assert isinstance(chunk, TimedChunk)
        audio.append(chunk.audio)
        words += chunk.words
    return np.concatenate(audio), words


class LiveServer(_LiveServer):
    """A real ``flashtts serve`` process on loopback, run from the repository root."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(args, log_path, env, cwd=ROOT)

    def start(self, timeout: float = 300.0) -> LiveServer:
        """Start and wait for ``/ready`` (a server that exits fails at once; the bound is for a loaded
        machine starting vLLM, which takes minutes there)."""
        super().start(timeout)
        return self


def assert_openai_error(response: httpx.Response, status: int | tuple[int, ...] | None = None) -> dict:
    """A 4xx (or the given status) whose body is ``{"error": {"message", "type", "param", "code"}}``."""
    statuses = (status,) if isinstance(status, int) else status
    if statuses is None:
        assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    else:
        assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert {"message", "type", "param", "code"} <= set(err), err
    assert isinstance(err["message"], str) and err["message"].strip(), err
    assert isinstance(err["type"], str) and err["type"], err
    return err


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after lower-casing and dropping punctuation."""
    import jiwer

    def norm(t: str) -> str:
        return " ".join("".join(ch for ch in t.lower() if ch.isalnum() or ch.isspace() or ch == "'").split())

    return jiwer.wer(norm(reference), norm(hypothesis))


def word_pairs(ours: list[str], theirs: list[str]) -> list[tuple[int, int]]:
    """Indices of the words in the same place of two transcripts (case and punctuation aside): equal
    words, and one-for-one substitutions (the same spoken word heard as another)."""
    def norm(word: str) -> str:
        return "".join(ch for ch in word.lower() if ch.isalnum())

    a, b = [norm(w) for w in ours], [norm(w) for w in theirs]
    return [(i1 + k, j1 + k) for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
            if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1) for k in range(i2 - i1)]
