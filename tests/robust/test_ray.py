"""Ray Serve scale-out (acceptance 1): ``flashtts serve --ray --replicas 2`` with CPU replicas of
the default engine, on loopback only. Bounded: one deployment for the module, fixed request counts,
every wait capped."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
import pytest

from support import LiveServer, need

need("ray.serve", "pip install 'flashtts[ray]'")
psutil = need("psutil")

pytestmark = pytest.mark.slow

TEXT = ("The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
        "It's easy to tell the depth of a well. The boy was there when the sun rose.")


@pytest.fixture(scope="module")
def ray_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray")
    server = LiveServer(["--ray", "--replicas", "2", "--ray_num_cpus", "0.5", "--ray_max_ongoing", "16",
                         "--role_dir", str(folder / "roles")], folder / "server.log",
                        env={"RAY_DEDUP_LOGS": "0"})
    server.start(timeout=240)
    family: list = []
    try:
        yield server
    finally:
        try:
            family = psutil.Process(server.proc.pid).children(recursive=True)
        except psutil.Error:
            pass
        server.stop()
        for proc in family:  # Ray processes this test started that outlived the graceful stop
            try:
                proc.kill()
            except psutil.Error:
                pass


def _replica_pids(server: LiveServer) -> list[int]:
    return [p.pid for p in psutil.Process(server.proc.pid).children(recursive=True)
            if "ServeReplica:flashtts" in " ".join(p.cmdline() or [p.name()])]


async def _speak(client: httpx.AsyncClient, text: str = TEXT, **extra) -> httpx.Response:
    return await client.post("/v1/audio/speech", json={"input": text, "voice": "joe", "stream": False,
                                                       "response_format": "pcm", **extra})


async def test_32_concurrent_requests_are_spread_over_both_replicas(ray_server):
    async with httpx.AsyncClient(base_url=ray_server.url, timeout=300) as client:
        answers = await asyncio.gather(*[_speak(client, f"Request number {i} is here.") for i in range(32)])
    assert [r.status_code for r in answers] == [200] * 32
    assert all(len(r.content) > 24000 for r in answers)  # at least half a second of audio each
    replicas = [r.headers["x-replica-id"] for r in answers]
    assert len(set(replicas)) == 2, replicas
    assert min(replicas.count(r) for r in set(replicas)) >= 1


async def test_role_added_through_one_replica_is_used_by_the_other(ray_server):
    async with httpx.AsyncClient(base_url=ray_server.url, timeout=300) as client:
        added = await client.post("/add_speaker", data={"name": "shared-role", "voice": "joe", "speed": "1.2"})
        assert added.status_code == 200, added.text
        origin = added.headers["x-replica-id"]
        others: list[httpx.Response] = []
        for _ in range(10):  # bounded: Ray routes each request; stop once the other replica answered
            batch = await asyncio.gather(*[client.post("/speak", json={"name": "shared-role", "text": "Hello there.",
                                                                       "response_format": "pcm", "stream": False})
                                           for _ in range(4)])
            assert all(r.status_code == 200 for r in batch), [r.text for r in batch]
            others += [r for r in batch if r.headers["x-replica-id"] != origin]
            if others:
                break
        assert others, "no request reached the other replica"
        listing = await client.get("/audio_roles")
        assert "shared-role" in listing.json()["roles"]


LONG = " ".join([TEXT, TEXT])  # eight sentences: a stream is in flight for several batch rounds


async def _stream(client: httpx.AsyncClient, started: dict[str, int], wake: asyncio.Event):
    """One audio stream; records its replica in ``started`` once audio flows."""
    got = 0
    async with client.stream("POST", "/v1/audio/speech",
                             json={"input": LONG, "voice": "joe", "response_format": "pcm"}) as resp:
        replica = resp.headers.get("x-replica-id")
        if resp.status_code != 200:
            return resp.status_code, replica, dict(resp.headers), (await resp.aread()).decode()
        try:
            async for part in resp.aiter_raw():
                if not got:
                    started[replica] = started.get(replica, 0) + 1
                    wake.set()
                got += len(part)
        except httpx.HTTPError as exc:
            return resp.status_code, replica, got, type(exc).__name__
        return resp.status_code, replica, got, None


def _retriable_503(resp_headers: dict, body: str) -> bool:
    import json

    return resp_headers.get("retry-after") == "1" and json.loads(body)["error"]["code"] == "replica_unavailable"


async def test_stopping_a_replica_fails_only_its_in_flight_requests_retriably(ray_server):
    pids = _replica_pids(ray_server)
    assert len(pids) == 2, pids
    async with httpx.AsyncClient(base_url=ray_server.url, timeout=300) as client:
        started: dict[str, int] = {}
        wake = asyncio.Event()
        streams = [asyncio.create_task(_stream(client, started, wake)) for _ in range(10)]
        completes = [asyncio.create_task(_speak(client)) for _ in range(4)]

        async def both_replicas_streaming() -> None:
            while len(started) < 2:
                wake.clear()
                await wake.wait()

        # kill as soon as each replica streams audio: every stream on either replica is then in flight
        await asyncio.wait_for(both_replicas_streaming(), 240)
        os.kill(pids[0], signal.SIGKILL)
        stream_results = await asyncio.gather(*streams)
        complete_results = await asyncio.gather(*completes)

        failed = [r for r in stream_results if r[0] == 200 and r[3] is not None]
        refused = [r for r in stream_results if r[0] != 200]
        ok = [r for r in stream_results if r[0] == 200 and r[3] is None]
        assert failed, stream_results  # the dead replica had streams in flight
        # they all ran on one replica, each ended as a truncated chunked body (a dropped connection
        # to the client, which retries); the other replica's streams all finished
        dead = {r[1] for r in failed}
        assert len(dead) == 1 and all(r[3] == "RemoteProtocolError" for r in failed), failed
        assert ok and all(r[1] not in dead for r in ok), stream_results
        for status, _, headers, body in refused:  # not started yet on the dead replica: a retriable 503
            assert status == 503 and _retriable_503(headers, body), (status, body)
        for resp in complete_results:  # complete files: audio, or a retriable 503 with an error body
            if resp.status_code != 200:
                assert resp.status_code == 503 and _retriable_503(dict(resp.headers), resp.text), resp.text

        # later requests succeed (Ray replaces the replica; the survivor serves meanwhile)
        later = await asyncio.gather(*[_speak(client, f"Later request {i}.") for i in range(8)])
        assert [r.status_code for r in later] == [200] * 8
    for _ in range(120):  # bounded: the controller starts a replacement replica
        if len(_replica_pids(ray_server)) == 2 and pids[0] not in _replica_pids(ray_server):
            break
        await asyncio.sleep(1)
    assert len(_replica_pids(ray_server)) == 2


async def test_sigterm_lets_streams_finish_turns_new_requests_away_and_exits_0(ray_server):
    """Last in the module (it stops the server): SIGTERM during a stream played in real time. Ray
    Serve unroutes the app at once (new requests: 503 with Retry-After from the proxy), lets the
    replica finish the stream (``--shutdown_grace``, default 30 s), then the process exits 0."""
    async with httpx.AsyncClient(base_url=ray_server.url, timeout=120) as client:
        first_audio = asyncio.Event()

        async def play() -> tuple[int, int]:
            got = 0
            async with client.stream("POST", "/v1/audio/speech",
                                     json={"input": LONG, "voice": "joe", "response_format": "pcm"}) as resp:
                async for part in resp.aiter_raw(4800):
                    got += len(part)
                    first_audio.set()
                    await asyncio.sleep(0.1)  # 0.1 s of 24 kHz 16-bit audio: read as it plays
            return resp.status_code, got

        player = asyncio.create_task(play())
        await asyncio.wait_for(first_audio.wait(), 120)
        ray_server.proc.send_signal(signal.SIGTERM)
        statuses = []
        for _ in range(40):  # bounded: the proxy stops routing within seconds
            resp = await _speak(client, "Hello.")
            statuses.append(resp.status_code)
            if resp.status_code == 503:
                assert _retriable_503(dict(resp.headers), resp.text), resp.text
                break
            await asyncio.sleep(0.5)
        assert statuses[-1] == 503 and set(statuses) <= {200, 503}, statuses
        status, got = await asyncio.wait_for(player, 240)
    assert status == 200 and got > 10 * 48000  # the whole stream: eight sentences, over 10 s of audio
    assert ray_server.proc.wait(180) == 0
