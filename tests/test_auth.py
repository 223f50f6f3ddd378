"""API keys on a real server: several keys (here from ``FLASHTTS_API_KEY``), Bearer or X-API-Key,
401 with an OpenAI error body on every route that is not meant to be open.

The protected routes are taken from the server's own OpenAPI document, so a route added later
without the key check fails this test.
"""

from __future__ import annotations

import httpx
import openai
import pytest

from live import assert_openai_error, serving

pytestmark = pytest.mark.slow

KEYS = ("sk-first-key-0123456789", "sk-second-key-abcdefghij")
# health, readiness, the web page and its static files, and the API description stay open
OPEN = {"/health", "/ready", "/api/health", "/", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("auth")
    with serving(tmp, "--role_dir", str(tmp / "roles"), env={"FLASHTTS_API_KEY": ",".join(KEYS)}) as s:
        yield s


def _operations(server) -> list[tuple[str, str]]:
    spec = httpx.get(server.url + "/openapi.json", timeout=30)
    assert spec.status_code == 200
    ops = []
    for path, methods in spec.json()["paths"].items():
        for method in methods:
            ops.append((method.upper(), path.replace("{voice_id}", "narrator").replace("{", "").replace("}", "")))
    return ops


def test_open_routes_need_no_key(server):
    assert httpx.get(server.url + "/health").status_code == 200
    assert httpx.get(server.url + "/ready").json()["ready"] is True
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    static = httpx.get(server.url + "/web/index.html")
    assert static.status_code == 200


def test_every_other_route_needs_a_key(server):
    ops = [(m, p) for m, p in _operations(server) if p not in OPEN]
    assert len(ops) >= 12 and ("POST", "/v1/audio/speech") in ops and ("GET", "/server_info") in ops
    for headers, code in (({}, "missing_api_key"), ({"Authorization": "Bearer sk-wrong"}, "invalid_api_key"),
                          ({"Authorization": f"Bearer {KEYS[0]}x"}, "invalid_api_key"),
                          ({"Authorization": f"Bearer {KEYS[0][:-1]}"}, "invalid_api_key"),
                          ({"Authorization": f"Basic {KEYS[0]}"}, "missing_api_key"),
                          ({"Authorization": "Bearer"}, "missing_api_key")):
        for method, path in ops:
            r = httpx.request(method, server.url + path, headers=headers, timeout=30)
            err = assert_openai_error(r, 401)
            assert err["type"] == "authentication_error" and err["code"] == code, (method, path, headers, err)


@pytest.mark.parametrize("headers", [
    {"Authorization": f"Bearer {KEYS[0]}"},
    {"Authorization": f"bearer {KEYS[1]}"},
    {"X-API-Key": KEYS[1]},
], ids=["bearer-first", "bearer-second-lowercase", "x-api-key"])
def test_each_key_is_accepted(server, headers):
    assert httpx.get(server.url + "/server_info", headers=headers).json()["settings"]["auth"] is True
    r = httpx.post(server.url + "/v1/audio/speech", headers=headers, timeout=60,
                   json={"model": "tts-1", "voice": "alloy", "input": "Open sesame.", "response_format": "wav",
                         "stream": False})
    assert r.status_code == 200 and r.content[:4] == b"RIFF"
    assert httpx.get(server.url + "/audio_roles", headers=headers).status_code == 200


def test_openai_sdk_with_and_without_the_key(server):
    good = openai.OpenAI(base_url=server.url + "/v1", api_key=KEYS[1], max_retries=0)
    assert len(good.audio.speech.create(model="tts-1", voice="alloy", input="Hello.").content) > 1000
    bad = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
    assert info.value.status_code == 401 and info.value.body["code"] == "invalid_api_key"
