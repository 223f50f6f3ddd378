"""Roles over HTTP (in-process, FakeEngine): FlashTTS's and OpenAI's role routes on one registry, a clear
409 for a name taken, 400 for a clone role on an engine that cannot clone, and the roles still there after a
restart (a second app on the same ``role_dir``). Crash safety of the registry: tests/test_roles_api.py."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from fakes import FakeEngine, tone_wav
from live import audio_info
from support import assert_openai_error

CLIP = tone_wav(2.0)
TEXT = "The box was thrown beside the parked truck."


async def _roles(client: httpx.AsyncClient) -> list[str]:
    r = await client.get("/audio_roles")
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True
    return body["roles"]


async def test_add_speaker_survives_restart_and_delete_removes_it(serve, tmp_path):
    role_dir = tmp_path / "shared-roles"
    async with serve(FakeEngine(), role_dir=role_dir) as first:
        # a clone role from an uploaded file, and a preset role (built-in voice + speed)
        r = await first.post("/add_speaker", data={"name": "Tester", "reference_text": TEXT},
                             files={"audio_file": ("tester.wav", CLIP, "audio/wav")})
        assert r.status_code == 200, r.text
        assert r.json() == {"success": True, "role": "Tester"}
        r = await first.post("/add_speaker", data={"name": "fast tone", "voice": "tone", "speed": "1.5"})
        assert r.status_code == 200, r.text
        assert {"Tester", "fast tone"} <= set(await _roles(first))
        # the same name again is a conflict, not a silent overwrite
        err = assert_openai_error(await first.post("/add_speaker", data={"name": "Tester", "voice": "tone"}), 409)
        assert err["code"] == "role_exists"

        voices = {v["id"]: v for v in (await first.get("/v1/audio/voices")).json()["data"]}
        assert voices["Tester"]["kind"] == "role" and voices["Tester"]["preview_url"]
        assert voices["tone"]["kind"] == "builtin"
        stored = await first.get(voices["Tester"]["preview_url"])
        assert stored.status_code == 200 and stored.headers["content-type"] == "audio/wav"
        assert audio_info(stored.content)[0] == pytest.approx(audio_info(CLIP)[0], rel=0.02)
        stored_hash = hashlib.sha256(stored.content).hexdigest()

        # the preset role speaks; the clone role on an engine that cannot clone is a clear 400
        r = await first.post("/speak", json={"name": "fast tone", "text": "Hello there.", "response_format": "wav"})
        assert r.status_code == 200 and audio_info(r.content)[0] > 0.3
        err = assert_openai_error(await first.post("/speak", json={"name": "Tester", "text": "Hello."}), 400)
        assert "clone" in err["message"] and err["code"] == "unsupported_capability"

    # restart on the same directory: both roles and the clip are still there
    async with serve(FakeEngine(), role_dir=role_dir) as second:
        assert {"Tester", "fast tone"} <= set(await _roles(second))
        again = await second.get("/v1/audio/voices/Tester/reference")
        assert hashlib.sha256(again.content).hexdigest() == stored_hash
        meta = json.loads((role_dir / "tester" / "role.json").read_text())
        assert meta["reference_text"] == TEXT and meta["sample_rate"] == 16000  # the engine's rate

        # delete removes it (and only it), on disk too; deleting again is a 404
        r = await second.post("/delete_speaker", data={"name": "Tester"})
        assert r.status_code == 200 and r.json() == {"success": True, "role": "Tester"}
        names = await _roles(second)
        assert "Tester" not in names and "fast tone" in names
        assert not (role_dir / "tester").exists()
        assert_openai_error(await second.post("/delete_speaker", data={"name": "Tester"}), 404)
        assert not any(p.name.startswith(".") and p.name != ".lock" for p in role_dir.iterdir())

        # the OpenAI voice routes manage the same registry
        r = await second.post("/v1/audio/voices", data={"name": "via-openai"},
                              files={"audio_sample": ("v.wav", CLIP, "audio/wav")})
        assert r.status_code == 200 and r.json()["id"] == "via-openai"
        assert "via-openai" in await _roles(second)
        assert (await second.delete("/v1/audio/voices/via-openai")).json()["deleted"] is True
        assert "via-openai" not in await _roles(second)
