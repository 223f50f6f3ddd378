"""``--idle_unload`` in-process on the fake engine: unloaded only when idle, reloaded by the next request."""

from __future__ import annotations

import asyncio

import pytest

from flashtts.config.settings import ServerConfig
from flashtts.engine import Engine
from flashtts.engine.idle_unload import IdleUnloadEngine
from flashtts.metrics import Metrics

from fakes import FakeEngine
from support import app_client, until

SPEAK = {"input": "Hello there.", "voice": "tone", "stream": False, "response_format": "wav"}


async def test_an_idle_engine_is_unloaded_and_the_next_request_reloads_it(tmp_path):
    engine = FakeEngine(chunks=1, chunk_seconds=0.05)
    async with app_client(ServerConfig(role_dir=tmp_path / "roles", idle_unload=0.3), engine) as client:
        wrapper = client.app.state.service.engine  # type: ignore[attr-defined]
        await until(lambda: not wrapper.loaded())
        ready = await client.get("/ready")
        assert ready.status_code == 200 and ready.json() == {"ready": True, "loaded": False, "draining": False}
        info = (await client.get("/server_info")).json()
        assert info["model_loaded"] is False and info["stats"]["model_loaded"] == 0
        assert info["rss_mib"] > 0 and info["rss_before_load_mib"] > 0
        assert (await client.get("/v1/audio/voices")).status_code == 200  # listings need no weights
        assert engine.reloads == 0
        r = await client.post("/v1/audio/speech", json=SPEAK)  # FakeEngine refuses to speak unloaded
        assert r.status_code == 200 and engine.reloads == 1 and engine.weights_loaded
        stats = (await client.get("/server_info")).json()["stats"]
        assert stats["model_reloads_total"] == 1 and stats["model_loaded"] == 1
        assert stats["model_reload_wait_seconds_total"] >= 0
        await until(lambda: wrapper.unloads == 2 and not wrapper.loaded())  # idle again
        assert (await client.get("/metrics")).text.count("flashtts_model_unloads_total 2") == 1


async def test_no_unload_while_a_request_runs_and_one_reload_for_many_waiting(tmp_path):
    engine = FakeEngine(chunks=1, chunk_seconds=0.05)
    engine.gate = asyncio.Event()
    async with app_client(ServerConfig(role_dir=tmp_path / "roles", idle_unload=0.2), engine) as client:
        running = asyncio.ensure_future(client.post("/v1/audio/speech", json=SPEAK))
        await until(lambda: engine.requests)
        unloads = engine.unloads  # (a slow machine may have unloaded once before the request came)
        await asyncio.sleep(0.8)  # four idle periods with a request running
        assert engine.unloads == unloads
        engine.gate.set()
        assert (await running).status_code == 200
        await until(lambda: engine.unloads == unloads + 1)
        reloads = engine.reloads
        engine.delay = 0.2  # a slow reload: the requests arriving meanwhile all wait for the same one
        answers = await asyncio.gather(*(client.post("/v1/audio/speech", json=SPEAK) for _ in range(5)))
        assert [a.status_code for a in answers] == [200] * 5
        assert engine.reloads == reloads + 1


def test_an_engine_that_cannot_unload_is_refused():
    class Plain(FakeEngine):
        unload = Engine.unload  # type: ignore[assignment]
        reload = Engine.reload  # type: ignore[assignment]

    assert FakeEngine().can_unload() and not Plain().can_unload()
    with pytest.raises(ValueError, match="cannot unload"):
        IdleUnloadEngine(Plain(), 1.0, Metrics())
