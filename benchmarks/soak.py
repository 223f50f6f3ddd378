"""Soak: every surface at once, below capacity, with a few hostile clients, for ``--duration`` seconds.

Well-behaved clients, each a loop with a short pause between requests:

* ``http-stream``: ``POST /v1/audio/speech`` streamed PCM (first audio: the first body bytes);
* ``complete``: the same as a complete WAV file (first audio: the whole answer);
* ``sse``: ``stream_format=sse`` with ``timestamps`` (first audio: the first delta; word events required);
* ``websocket``: ``/v1/audio/speech/stream``, the text sent in word pieces as an LLM writes (first audio:
  from the first piece sent);
* ``wyoming``: ``synthesize-start`` / ``synthesize-chunk``s / ``synthesize-stop`` (first audio: from the
  first chunk sent);
* ``roles``: ``/add_speaker``, ``/speak`` with the new role, ``/delete_speaker``; every fifth role is kept
  and all kept roles are looked up at the end (a role written with 200 and not found is a lost write);
* ``info``: ``/server_info``.

Hostile clients: ``idle-ws`` and ``idle-wyoming`` each hold 4 live sessions that never send text (ended
by ``--live_idle_timeout``, then reopened); ``resets`` resets an HTTP stream, a WebSocket and a Wyoming
synthesis mid-answer in turn; ``slowloris`` dribbles request headers (closed by ``--header_timeout``);
``bad-input`` sends wrong-typed Wyoming events and bad WebSocket messages.

Figures: answers by surface and status; p50/p95 time to first audio per surface; the server's resident
memory, read every second, as each minute's peak, and the slope of those peaks after the warm-up (least
squares; a leak lifts every minute's peak, while the 10-s readings alone also swing by hundreds of MiB
as Piper's shared arena is refreshed once a minute under load); its open file descriptors; the
event-loop lag p99 after the warm-up (the server's own monitor, ``event_loop_lag_seconds``: a bucket
bound); ERROR lines in the server's log. It passes with zero 5xx (HTTP 5xx, WebSocket close 1011, Wyoming
``internal_error``), no failed well-behaved request, zero lost role writes, an RSS slope under 1 MiB/min and
a lag p99 under 50 ms.

    .venv/bin/python benchmarks/soak.py                   # 30 minutes, its own server on 127.0.0.1
    .venv/bin/python benchmarks/soak.py --duration 240    # a short check

Loopback only; bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import ROOT, Server, free_port, require_loopback  # noqa: E402

TEXTS = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background. It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls, and the juice of lemons makes fine punch.",
]
SURFACES = ("http-stream", "complete", "sse", "websocket", "wyoming", "roles", "info")
HOSTILE = ("idle-ws", "idle-wyoming", "resets", "slowloris", "bad-input")
PAUSE = 0.5
"""Seconds each well-behaved client waits between two requests."""


class Record:
    """What the clients saw."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.first_audio: dict[str, list[float]] = defaultdict(list)
        self.failures: list[str] = []
        self.server_errors: list[str] = []

    def add(self, surface: str, status: str, problem: str | None = None, first_audio: float | None = None) -> None:
        self.outcomes[(surface, status)] += 1
        if first_audio is not None:
            self.first_audio[surface].append(first_audio)
        if problem:
            self.failures.append(f"{time.monotonic() - self.t0:.0f}s {surface} {status}: {problem}"[:300])
        if status.startswith("5") or status in ("ws:1011", "wyoming:internal_error"):
            self.server_errors.append(f"{time.monotonic() - self.t0:.0f}s {surface} {status}: {problem}"[:300])


# ---- well-behaved clients ---------------------------------------------------------------------
async def http_stream(client: httpx.AsyncClient, text: str, rec: Record) -> None:
    sent, first, got = time.monotonic(), None, 0
    async with client.stream("POST", "/v1/audio/speech",
                             json={"input": text, "voice": "joe", "response_format": "pcm"}) as r:
        async for part in r.aiter_raw():
            if first is None and part:
                first = time.monotonic() - sent
            got += len(part)
    ok = r.status_code == 200 and got > 10000
    rec.add("http-stream", str(r.status_code), None if ok else f"{got} bytes", first if ok else None)


async def complete(client: httpx.AsyncClient, text: str, rec: Record) -> None:
    sent = time.monotonic()
    r = await client.post("/v1/audio/speech", json={"input": text, "voice": "alloy", "stream": False,
                                                    "response_format": "wav"})
    ok = r.status_code == 200 and len(r.content) > 10000
    rec.add("complete", str(r.status_code), None if ok else r.text[:200], time.monotonic() - sent if ok else None)


async def sse(client: httpx.AsyncClient, text: str, rec: Record) -> None:
    sent, first = time.monotonic(), None
    kinds: Counter[str] = Counter()
    async with client.stream("POST", "/v1/audio/speech", json={
            "input": text, "voice": "joe", "stream_format": "sse", "response_format": "pcm",
            "timestamps": True}) as r:
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                kind = json.loads(line[6:]).get("type", "")
                kinds[kind] += 1
                if kind == "speech.audio.delta" and first is None:
                    first = time.monotonic() - sent
    ok = r.status_code == 200 and kinds["speech.audio.done"] == 1 and kinds["speech.audio.words"] > 0
    rec.add("sse", str(r.status_code), None if ok else str(dict(kinds)), first if ok else None)


async def websocket(url: str, text: str, rec: Record) -> None:
    from websockets.asyncio.client import connect

    first = None
    kinds: list[str] = []
    async with connect(url.replace("http://", "ws://") + "/v1/audio/speech/stream", open_timeout=60) as ws:
        await ws.send(json.dumps({"type": "start", "voice": "joe", "response_format": "pcm"}))
        sent = time.monotonic()

        async def feed() -> None:
            for word in text.split(" "):
                await ws.send(json.dumps({"type": "text", "text": word + " "}))
                await asyncio.sleep(0.02)
            await ws.send(json.dumps({"type": "end"}))

        feeder = asyncio.create_task(feed())
        async for message in ws:
            if isinstance(message, bytes):
                if first is None:
                    first = time.monotonic() - sent
            else:
                kinds.append(json.loads(message)["type"])
        await feeder
    code = ws.close_code
    ok = code == 1000 and kinds and kinds[-1] == "done" and first is not None
    rec.add("websocket", f"ws:{code}", None if ok else str(kinds[-3:]), first if ok else None)


async def read_event(reader: asyncio.StreamReader) -> dict:
    line = await asyncio.wait_for(reader.readline(), 120)
    if not line:
        raise ConnectionError("the server closed the connection")
    event = json.loads(line)
    if event.get("data_length"):
        event["data"] = {**event.get("data", {}), **json.loads(await reader.readexactly(event["data_length"]))}
    if event.get("payload_length"):
        await reader.readexactly(event["payload_length"])
    return event


def _event(kind: str, **data: object) -> bytes:
    return (json.dumps({"type": kind, "data": data}) + "\n").encode()


async def wyoming(port: int, text: str, rec: Record) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_event("synthesize-start", voice={"name": "joe"}))
        sent = time.monotonic()
        pieces = text.split(", ") if ", " in text else [text[: len(text) // 2], text[len(text) // 2:]]
        for n, piece in enumerate(pieces):
            writer.write(_event("synthesize-chunk", text=piece + (", " if n < len(pieces) - 1 else "")))
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(_event("synthesize-stop"))
        await writer.drain()
        first, error, starts = None, None, 0
        while True:
            event = await read_event(reader)
            if event["type"] == "audio-chunk" and first is None:
                first = time.monotonic() - sent
            elif event["type"] == "audio-start":
                starts += 1
            elif event["type"] == "error":
                error = event["data"].get("code")
            elif event["type"] == "synthesize-stopped":
                break
        ok = error is None and first is not None and starts >= 1
        rec.add("wyoming", f"wyoming:{error or 'ok'}", None if ok else f"error {error}, {starts} segments",
                first if ok else None)
    finally:
        writer.close()


class Roles:
    """Role writes and their check: every role kept must still be there at the end."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.lost: list[str] = []
        self.count = itertools.count()

    async def once(self, client: httpx.AsyncClient, rec: Record) -> None:
        n = next(self.count)
        name = f"soak-{os.getpid()}-{n}"
        r = await client.post("/add_speaker", data={"name": name, "voice": "joe", "speed": "1.1"})
        if r.status_code != 200:
            rec.add("roles", str(r.status_code), f"add_speaker: {r.text[:200]}")
            return
        s = await client.post("/speak", json={"name": name, "text": "Soaking.", "stream": False,
                                              "response_format": "wav"})
        if s.status_code == 404:
            self.lost.append(name)
        if n % 5 == 0:
            self.kept.append(name)
            rec.add("roles", str(s.status_code), None if s.status_code == 200 else f"speak: {s.text[:200]}")
            return
        d = await client.post("/delete_speaker", data={"name": name})
        ok = s.status_code == 200 and d.status_code == 200
        rec.add("roles", str(s.status_code if s.status_code != 200 else d.status_code),
                None if ok else f"speak {s.status_code}, delete {d.status_code}")

    async def check(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/audio_roles")
        listed = set(r.json().get("roles", [])) if r.status_code == 200 else set()
        self.lost += [name for name in self.kept if name not in listed]
        for name in self.kept:  # leave the role directory as it was
            await client.post("/delete_speaker", data={"name": name})


# ---- hostile clients --------------------------------------------------------------------------
async def idle_ws(url: str, rec: Record, end: float) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    while time.monotonic() < end:
        try:
            async with connect(url.replace("http://", "ws://") + "/v1/audio/speech/stream", open_timeout=60) as ws:
                try:
                    await ws.send(json.dumps({"type": "start", "voice": "joe"}))
                    while True:
                        reply = json.loads(await asyncio.wait_for(ws.recv(), max(1.0, end - time.monotonic())))
                        if reply["type"] == "error":
                            rec.add("idle-ws", reply["error"]["code"])
                            break
                except (ConnectionClosed, asyncio.TimeoutError):
                    pass
            if ws.close_code == 1011:
                rec.add("idle-ws", "ws:1011", "server error")
        except OSError as exc:
            rec.add("idle-ws", type(exc).__name__, str(exc))
            await asyncio.sleep(1)


async def idle_wyoming(port: int, rec: Record, end: float) -> None:
    while time.monotonic() < end:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(_event("synthesize-start"))
            await writer.drain()
            event = await asyncio.wait_for(read_event(reader), max(1.0, end - time.monotonic()))
            rec.add("idle-wyoming", f"wyoming:{event['data'].get('code')}" if event["type"] == "error"
                    else event["type"])
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    import socket
    import struct

    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def resets(port: int, wyoming_port: int, rec: Record, end: float) -> None:
    body = json.dumps({"input": " ".join(TEXTS), "voice": "joe", "response_format": "pcm"}).encode()
    for n in itertools.count():
        if time.monotonic() >= end:
            return
        kind = ("http", "ws", "wyoming")[n % 3]
        try:
            if kind == "wyoming":
                reader, writer = await asyncio.open_connection("127.0.0.1", wyoming_port)
                writer.write(_event("synthesize", text=" ".join(TEXTS)))
            else:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                if kind == "http":
                    writer.write(b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                 b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                else:
                    writer.write(b"GET /v1/audio/speech/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                 b"Sec-WebSocket-Version: 13\r\n\r\n")
            await writer.drain()
            await asyncio.wait_for(reader.read(100), 60)
            _reset(writer)
            rec.add("resets", kind)
        except (OSError, asyncio.TimeoutError) as exc:
            rec.add("resets", f"{kind}:{type(exc).__name__}")
        await asyncio.sleep(3)


async def slowloris(port: int, rec: Record, end: float) -> None:
    while time.monotonic() < end:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        opened = time.monotonic()
        try:
            writer.write(b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while time.monotonic() - opened < 60:
                writer.write(b"X")
                await writer.drain()
                if await asyncio.wait_for(reader.read(100), 2.0) == b"":
                    break
        except asyncio.TimeoutError:
            pass
        except OSError:
            pass
        held = time.monotonic() - opened
        rec.add("slowloris", "closed" if held < 60 else "held", None if held < 60 else f"open {held:.0f} s")
        writer.close()
        await asyncio.sleep(5)


async def bad_input(url: str, wyoming_port: int, rec: Record, end: float) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    wrong = [("synthesize", {"text": 5}), ("synthesize", {"text": "Hi.", "voice": "joe"}),
             ("synthesize-chunk", {"text": ["a"]}), ("synthesize-start", {"voice": {"name": 1}}),
             ("ping", {"text": {}})]
    for n in itertools.count():
        if time.monotonic() >= end:
            return
        if n % 2 == 0:
            reader, writer = await asyncio.open_connection("127.0.0.1", wyoming_port)
            kind, data = wrong[n // 2 % len(wrong)]
            writer.write((json.dumps({"type": kind, "data": data}) + "\n").encode())
            await writer.drain()
            event = await read_event(reader)
            code = event["data"].get("code") if event["type"] == "error" else event["type"]
            rec.add("bad-input", f"wyoming:{code}", None if code == "invalid_event" else str(event)[:200])
            writer.close()
        else:
            async with connect(url.replace("http://", "ws://") + "/v1/audio/speech/stream", open_timeout=60) as ws:
                try:
                    await ws.send(json.dumps({"type": "start", "voice": "joe", "speed": "fast"}))
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    await ws.wait_closed()
                except ConnectionClosed:
                    reply = {}
            rec.add("bad-input", f"ws:{ws.close_code}", None if reply.get("type") == "error" else str(reply)[:200])
        await asyncio.sleep(2)


# ---- the run ----------------------------------------------------------------------------------
async def soak(url: str, wyoming_port: int, pid: int, duration: float, warmup: float) -> dict:
    rec = Record()
    roles = Roles()
    proc = psutil.Process(pid)
    port = int(url.rsplit(":", 1)[1])
    end = rec.t0 + duration
    samples: list[dict] = []
    lag: dict[str, dict] = {}

    async def loop(surface: str, offset: int, client: httpx.AsyncClient) -> None:
        for i in itertools.count(offset):
            if time.monotonic() >= end:
                return
            text = TEXTS[i % len(TEXTS)]
            try:
                if surface == "http-stream":
                    await http_stream(client, text, rec)
                elif surface == "complete":
                    await complete(client, text, rec)
                elif surface == "sse":
                    await sse(client, text, rec)
                elif surface == "websocket":
                    await websocket(url, text, rec)
                elif surface == "wyoming":
                    await wyoming(wyoming_port, text, rec)
                elif surface == "roles":
                    await roles.once(client, rec)
                else:
                    r = await client.get("/server_info")
                    rec.add("info", str(r.status_code), None if r.status_code == 200 else r.text[:200])
            except Exception as exc:  # a failed well-behaved request, whatever it was
                rec.add(surface, f"error:{type(exc).__name__}", str(exc) or type(exc).__name__)
            await asyncio.sleep(PAUSE)

    async def sampler(client: httpx.AsyncClient) -> None:
        """RSS every second; every 10 s a sample with the RSS then and the highest since the last sample."""
        peak, last = 0.0, -10.0
        while time.monotonic() < end:
            t = time.monotonic() - rec.t0
            rss = round(proc.memory_info().rss / 2**20, 2)
            peak = max(peak, rss)
            if not lag.get("warm") and t >= warmup:
                lag["warm"] = (await client.get("/server_info")).json()["stats"]["event_loop_lag"]
            if t - last >= 10.0:
                samples.append({"t": round(t, 1), "rss_mib": rss, "rss_peak_mib": peak, "fds": proc.num_fds()})
                peak, last = 0.0, t
            await asyncio.sleep(min(1.0, max(0.1, end - time.monotonic())))

    async def hostile(name: str) -> None:
        try:
            if name == "idle-ws":
                await idle_ws(url, rec, end)
            elif name == "idle-wyoming":
                await idle_wyoming(wyoming_port, rec, end)
            elif name == "resets":
                await resets(port, wyoming_port, rec, end)
            elif name == "slowloris":
                await slowloris(port, rec, end)
            else:
                await bad_input(url, wyoming_port, rec, end)
        except Exception as exc:
            rec.add(name, f"client-error:{type(exc).__name__}", str(exc))

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await asyncio.gather(
            sampler(client),
            *[loop(surface, k, client) for k, surface in enumerate(SURFACES)],
            *[hostile("idle-ws") for _ in range(4)], *[hostile("idle-wyoming") for _ in range(4)],
            *[hostile(name) for name in HOSTILE[2:]])
        await roles.check(client)
        stats = (await client.get("/server_info")).json()["stats"]
    lag["end"] = stats["event_loop_lag"]
    return summarise(rec, roles, samples, lag, stats, duration, warmup)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope, per minute."""
    if len(points) < 2:
        return None
    xs, ys = [p[0] / 60 for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den, 3) if den else None


def _lag_p99(warm: dict | None, final: dict) -> float | None:
    counts = [b - a for a, b in zip(warm["counts"], final["counts"], strict=True)] if warm else final["counts"]
    n = sum(counts)
    if not n:
        return None
    seen = 0
    for bound, count in zip(final["buckets"] + [float("inf")], counts, strict=True):
        seen += count
        if seen >= 0.99 * n:
            return bound
    return None


def summarise(rec: Record, roles: Roles, samples: list[dict], lag: dict, stats: dict, duration: float,
              warmup: float) -> dict:
    by_surface: dict[str, dict[str, int]] = defaultdict(dict)
    for (surface, status), count in sorted(rec.outcomes.items()):
        by_surface[surface][status] = count
    per_minute: dict[int, dict] = {}
    for s in samples:  # the first sample of each minute
        per_minute.setdefault(int(s["t"] // 60), s)
    peaks: dict[int, float] = defaultdict(float)  # the highest RSS seen in each whole minute
    for s in samples:
        minute = int(s["t"] // 60)
        if (minute + 1) * 60 <= duration:
            peaks[minute] = max(peaks[minute], s.get("rss_peak_mib", s["rss_mib"]))
    after = [(m * 60.0, v) for m, v in sorted(peaks.items()) if m * 60 >= warmup]
    lag_p99 = _lag_p99(lag.get("warm"), lag["end"])
    well_behaved_failures = [f for f in rec.failures if f.split(" ")[1] in SURFACES]
    result = {
        "duration_s": duration, "warmup_s": warmup,
        "answers": dict(by_surface),
        "answers_total": sum(rec.outcomes.values()),
        "server_errors_5xx": len(rec.server_errors), "server_error_samples": rec.server_errors[:20],
        "failures": len(well_behaved_failures), "failure_samples": rec.failures[:30],
        "first_audio_s": {s: {"n": len(v), "p50": _percentile(v, 0.5), "p95": _percentile(v, 0.95)}
                          for s, v in sorted(rec.first_audio.items())},
        "role_writes": {"written": next(roles.count), "kept_and_checked": len(roles.kept), "lost": len(roles.lost),
                        "lost_names": roles.lost[:20]},
        "rss_mib_per_minute": [(m, s["rss_mib"]) for m, s in sorted(per_minute.items())],
        "rss_peak_mib_per_minute": sorted(peaks.items()),
        "rss_slope_mib_per_min_after_warmup": _slope(after),
        "rss_slope_of_10s_samples_after_warmup": _slope([(s["t"], s["rss_mib"]) for s in samples
                                                         if s["t"] >= warmup]),
        "fds_per_minute": [(m, s["fds"]) for m, s in sorted(per_minute.items())],
        "fds_max": max((s["fds"] for s in samples), default=None),
        "event_loop_lag_p99_s_after_warmup": lag_p99,
        "event_loop_lag_max_s": stats.get("event_loop_lag_max_seconds"),
        "server_stats": {k: stats.get(k) for k in (
            "requests_total", "requests_failed_total", "requests_rejected_total", "requests_aborted_total",
            "audio_seconds_total", "live_sessions_refused_total", "live_sessions_idle_timeout_total",
            "http_errors_total")},
        "samples": samples,
    }
    slope = result["rss_slope_mib_per_min_after_warmup"]
    result["checks"] = {
        "zero_5xx": result["server_errors_5xx"] == 0,
        "no_failed_requests": result["failures"] == 0,
        "zero_lost_role_writes": not roles.lost,
        "rss_slope_under_1_mib_per_min": slope is not None and slope < 1.0,
        "lag_p99_under_50_ms": lag_p99 is not None and lag_p99 <= 0.05,
    }
    result["passed"] = all(result["checks"].values())
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                         "load_average": os.getloadavg()}
    return result


def write_report(result: dict, out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    fa = result["first_audio_s"]
    lines = [
        "# Soak: every surface, hostile clients included",
        "",
        f"`{command}`: {result['duration_s'] / 60:.0f} minutes against a Piper server on loopback "
        f"({result['machine']['cpus']} CPUs, shared with other work: load average at the end "
        f"{', '.join(f'{x:.1f}' for x in result['machine']['load_average'])}), warm-up {result['warmup_s'] / 60:.0f} "
        "minutes. Surfaces and clients: `benchmarks/soak.py`'s docstring.",
        "",
        "| check | value | passed |",
        "| --- | --- | --- |",
        f"| 5xx answers (HTTP 5xx, WebSocket 1011, Wyoming `internal_error`) | {result['server_errors_5xx']} | "
        f"{result['checks']['zero_5xx']} |",
        f"| failed well-behaved requests | {result['failures']} | {result['checks']['no_failed_requests']} |",
        f"| lost role writes | {result['role_writes']['lost']} of {result['role_writes']['written']} written "
        f"({result['role_writes']['kept_and_checked']} kept and checked at the end) | "
        f"{result['checks']['zero_lost_role_writes']} |",
        f"| RSS slope after warm-up (least squares over each minute's peak, read every second) | "
        f"{result['rss_slope_mib_per_min_after_warmup']} MiB/min (of the 10-s readings: "
        f"{result['rss_slope_of_10s_samples_after_warmup']}) | "
        f"{result['checks']['rss_slope_under_1_mib_per_min']} |",
        f"| event-loop lag p99 after warm-up (bucket bound) | "
        f"{(result['event_loop_lag_p99_s_after_warmup'] or 0) * 1000:g} ms "
        f"(max {result['event_loop_lag_max_s']:.3f} s) | {result['checks']['lag_p99_under_50_ms']} |",
        f"| open file descriptors | max {result['fds_max']} |  |",
        f"| ERROR lines in the server's log | {result.get('server_log_error_lines')} |  |",
        "",
        "Answers by surface and status:",
        "",
        "| surface | answers |",
        "| --- | --- |",
    ]
    for surface, statuses in result["answers"].items():
        lines.append(f"| {surface} | {', '.join(f'{k}: {v}' for k, v in statuses.items())} |")
    lines += ["", "Time to first audio (s), client side:", "", "| surface | n | p50 | p95 |",
              "| --- | --- | --- | --- |"]
    for surface, row in fa.items():
        lines.append(f"| {surface} | {row['n']} | {row['p50']} | {row['p95']} |")
    peaks = dict(result["rss_peak_mib_per_minute"])
    lines += ["", "Resident memory (MiB: at the minute's start, and the minute's peak) and open file descriptors:", "",
              "| minute | " + " | ".join(str(m) for m, _ in result["rss_mib_per_minute"]) + " |",
              "| --- |" + " --- |" * len(result["rss_mib_per_minute"]),
              "| RSS | " + " | ".join(f"{v:.0f}" for _, v in result["rss_mib_per_minute"]) + " |",
              "| peak | " + " | ".join(f"{peaks[m]:.0f}" if m in peaks else "" for m, _ in result["rss_mib_per_minute"])
              + " |",
              "| fds | " + " | ".join(str(v) for _, v in result["fds_per_minute"]) + " |",
              "", f"Passed: **{result['passed']}**. Every sample is in `soak.json`.", ""]
    (out / "soak.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=1800.0)
    ap.add_argument("--warmup", type=float, help="seconds left out of the RSS slope and the lag (default: a "
                    "sixth of the run, at most 5 minutes)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = ap.parse_args()
    warmup = args.warmup if args.warmup is not None else min(300.0, args.duration / 6)
    wyoming_port = free_port()
    with Server("--wyoming_port", str(wyoming_port)) as server:
        require_loopback(server.url)
        assert server.proc is not None
        result = asyncio.run(soak(server.url, wyoming_port, server.proc.pid, args.duration, warmup))
        log = server.log_path.read_text(errors="replace")
    result["server_log_error_lines"] = sum(1 for line in log.splitlines()
                                           if " ERROR " in line or "Traceback" in line or "never retrieved" in line)
    command = "python benchmarks/soak.py " + " ".join(sys.argv[1:])
    write_report(result, args.out, command.strip())
    print(json.dumps({k: v for k, v in result.items() if k not in ("samples",)}, indent=2))
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
