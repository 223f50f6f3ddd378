"""Voice mixes through the serving layer, in-process on a fake engine that can mix: every route that takes a
voice passes the mix on, a mix saved as a role is used by name, and each way a mix can be wrong is a 400
that names the problem. (Kokoro's own blending and how a mix sounds: tests/test_kokoro.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from flashtts.config.settings import ServerConfig
from flashtts.engine import Capabilities
from flashtts.voices.registry import Role, SpeakerRegistry

from fakes import FakeEngine
from support import app_client

VOICES = ("af_bella", "af_sky", "bm_george")


def _mixing() -> FakeEngine:
    engine = FakeEngine(Capabilities(speed=True, voice_mixing=True), chunks=1, voices=VOICES)
    engine.name = "kokoro"
    return engine


def _mix(engine: FakeEngine) -> dict[str, float]:
    return dict(engine.requests[-1].mix)


@pytest.mark.parametrize(("voice", "want"), [
    ("af_bella(2)+af_sky(1)", {"af_bella": 2 / 3, "af_sky": 1 / 3}),
    ("af_bella+af_sky", {"af_bella": 0.5, "af_sky": 0.5}),
    ("AF_Bella + bm_george(3)", {"af_bella": 0.25, "bm_george": 0.75}),
])
async def test_a_mix_reaches_the_engine_with_normalised_weights(tmp_path, voice, want):
    engine = _mixing()
    async with app_client(ServerConfig(role_dir=tmp_path / "roles"), engine) as client:
        r = await client.post("/v1/audio/speech", json={"input": "Hello there.", "voice": voice, "stream": False})
        assert r.status_code == 200, r.text
        assert _mix(engine) == pytest.approx(want)
        assert engine.requests[-1].voice == next(iter(want))  # the first voice (its language reads the text)
        r = await client.post("/speak", json={"name": voice, "text": "Hello there.", "response_format": "wav"})
        assert r.status_code == 200, r.text
        assert _mix(engine) == pytest.approx(want)


async def test_a_mix_saved_as_a_role_is_used_by_name(tmp_path):
    engine = _mixing()
    async with app_client(ServerConfig(role_dir=tmp_path / "roles"), engine) as client:
        r = await client.post("/v1/audio/voices", data={"name": "blend", "voice": "af_bella(2)+af_sky(1)"})
        assert r.status_code == 200, r.text
        assert r.json()["description"].startswith("mix af_bella(0.6667)+af_sky(0.3333)")
        r = await client.post("/add_speaker", data={"name": "deep", "voice": "bm_george(3)+blend(1)"})
        assert r.status_code == 200, r.text
        for route, body in (("/v1/audio/speech", {"input": "Hi.", "voice": "blend", "stream": False}),
                            ("/speak", {"name": "blend", "text": "Hi."})):
            r = await client.post(route, json=body)
            assert r.status_code == 200, r.text
            assert _mix(engine) == pytest.approx({"af_bella": 2 / 3, "af_sky": 1 / 3}, abs=1e-3)
        # a role inside a mix counts as its own voices; one saved from another role is stored flat
        r = await client.post("/speak", json={"name": "deep", "text": "Hi."})
        assert r.status_code == 200, r.text
        assert _mix(engine) == pytest.approx({"bm_george": 0.75, "af_bella": 1 / 6, "af_sky": 1 / 12}, abs=1e-3)
        r = await client.post("/multi_speak", json={"text": "<role:blend>Hello. <role:af_sky>Goodbye."})
        assert r.status_code == 200, r.text
        assert [dict(q.mix) for q in engine.requests[-2:]] == [pytest.approx({"af_bella": 2 / 3, "af_sky": 1 / 3},
                                                                             abs=1e-3), {}]
        voices = {v["id"]: v for v in (await client.get("/v1/audio/voices")).json()["data"]}
        assert voices["blend"]["kind"] == "role" and "deep" in voices


async def _error(client, voice: str) -> dict:
    r = await client.post("/v1/audio/speech", json={"input": "Hello there.", "voice": voice})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == "voice"
    return err


async def test_each_wrong_mix_is_a_400_naming_the_problem(tmp_path):
    registry = SpeakerRegistry(tmp_path / "roles")
    registry.add(Role(name="joe role", voice="joe", engine="piper"))
    registry.add(Role(name="clone", engine="kokoro"), np.full(32000, 0.1, "float32"), 16000)
    engine = _mixing()
    async with app_client(ServerConfig(role_dir=tmp_path / "roles"), engine) as client:
        err = await _error(client, "af_bella+nobody")
        assert err["code"] == "voice_not_found" and "unknown voice 'nobody'" in err["message"]
        err = await _error(client, "af_bella(2)+af_sky(")
        assert err["code"] == "invalid_voice_mix" and "'af_sky('" in err["message"]
        err = await _error(client, "af_bella(0)+af_sky(1)")
        assert err["code"] == "invalid_voice_mix" and "weights must be > 0" in err["message"]
        err = await _error(client, "af_bella(-2)+af_sky")
        assert "weights must be > 0" in err["message"]
        err = await _error(client, "af_bella+joe role")
        assert err["code"] == "mixed_engines" and "different engines" in err["message"] and "piper" in err["message"]
        err = await _error(client, "af_bella+clone")
        assert err["code"] == "voice_not_mixable" and "clone" in err["message"]
        r = await client.post("/v1/audio/voices", data={"name": "bad", "voice": "af_bella(0)"})
        assert r.status_code == 400 and "weights must be > 0" in r.json()["error"]["message"]
    assert engine.requests == []


async def test_an_engine_that_cannot_mix_says_so(tmp_path):
    engine = FakeEngine(chunks=1, voices=VOICES)
    async with app_client(ServerConfig(role_dir=tmp_path / "roles"), engine) as client:
        err = await _error(client, "af_bella(2)+af_sky(1)")
        assert err["code"] == "unsupported_capability" and "cannot mix voices" in err["message"]
    assert engine.requests == []
