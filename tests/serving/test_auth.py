"""API keys (in-process, FakeEngine): several keys (as ``FLASHTTS_API_KEY`` gives them), Bearer or X-API-Key,
401 with an OpenAI error body on every route that is not meant to be open.

The protected routes are taken from the app's own OpenAPI document, so a route added later without the
key check fails this test. Over a real socket: tests/test_openai_sdk.py::test_api_key_over_a_socket.
"""

from __future__ import annotations

import openai
import pytest
import pytest_asyncio

from flashtts.config.options import ServeOptions
from flashtts.config.settings import ServerConfig

from fakes import FakeEngine
from support import app_client, assert_openai_error

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEYS = ("sk-first-key-0123456789", "sk-second-key-abcdefghij")
# health, readiness, the web page and its static files, and the API description stay open
OPEN = {"/health", "/ready", "/api/health", "/", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(tmp_path_factory):
    keys = ServeOptions(api_key=[",".join(KEYS)]).server_config().api_keys  # the variable's comma-separated form
    assert keys == KEYS
    async with app_client(ServerConfig(role_dir=tmp_path_factory.mktemp("auth") / "roles", api_keys=keys),
                          FakeEngine()) as c:
        yield c


async def _operations(client) -> list[tuple[str, str]]:
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    ops = []
    for path, methods in spec.json()["paths"].items():
        for method in methods:
            ops.append((method.upper(), path.replace("{voice_id}", "narrator").replace("{", "").replace("}", "")))
    return ops


async def test_open_routes_need_no_key(client):
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/ready")).json()["ready"] is True
    page = await client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert (await client.get("/web/index.html")).status_code == 200


async def test_every_other_route_needs_a_key(client):
    ops = [(m, p) for m, p in await _operations(client) if p not in OPEN]
    assert len(ops) >= 12 and ("POST", "/v1/audio/speech") in ops and ("GET", "/server_info") in ops
    for headers, code in (({}, "missing_api_key"), ({"Authorization": "Bearer sk-wrong"}, "invalid_api_key"),
                          ({"Authorization": f"Bearer {KEYS[0]}x"}, "invalid_api_key"),
                          ({"Authorization": f"Bearer {KEYS[0][:-1]}"}, "invalid_api_key"),
                          ({"Authorization": f"Basic {KEYS[0]}"}, "missing_api_key"),
                          ({"Authorization": "Bearer"}, "missing_api_key")):
        for method, path in ops:
            r = await client.request(method, path, headers=headers)
            err = assert_openai_error(r, 401)
            assert err["type"] == "authentication_error" and err["code"] == code, (method, path, headers, err)


@pytest.mark.parametrize("headers", [
    {"Authorization": f"Bearer {KEYS[0]}"},
    {"Authorization": f"bearer {KEYS[1]}"},
    {"X-API-Key": KEYS[1]},
], ids=["bearer-first", "bearer-second-lowercase", "x-api-key"])
async def test_each_key_is_accepted(client, headers):
    assert (await client.get("/server_info", headers=headers)).json()["settings"]["auth"] is True
    r = await client.post("/v1/audio/speech", headers=headers,
                          json={"model": "tts-1", "voice": "alloy", "input": "Open sesame.", "response_format": "wav",
                                "stream": False})
    assert r.status_code == 200 and r.content[:4] == b"RIFF"
    assert (await client.get("/audio_roles", headers=headers)).status_code == 200


async def test_openai_sdk_with_and_without_the_key(client):
    good = openai.AsyncOpenAI(base_url="http://localhost/v1", api_key=KEYS[1], max_retries=0, http_client=client)
    assert len((await good.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")).content) > 1000
    bad = openai.AsyncOpenAI(base_url="http://localhost/v1", api_key="sk-nope", max_retries=0, http_client=client)
    with pytest.raises(openai.AuthenticationError) as info:
        await bad.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
    assert info.value.status_code == 401 and info.value.body["code"] == "invalid_api_key"
