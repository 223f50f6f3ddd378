"""Bad input gets a 4xx with an OpenAI error body, and the server keeps serving (in-process, FakeEngine).

One app (started with an API key and a 512 KiB upload limit) takes every kind of bad request in turn;
after each one a good request must still succeed, and at the end no request failed inside the server
and nothing was logged as an internal error. The same on a real server over a socket:
tests/test_openai_sdk.py::test_bad_requests_over_a_socket.
"""

from __future__ import annotations

import base64
import json
import logging

import httpx
import numpy as np
import pytest
import pytest_asyncio
from hostile_ssml import HOSTILE

from flashtts.audio import encode
from flashtts.config.settings import Limits, ServerConfig

from fakes import FakeEngine, tone_wav
from support import app_client, assert_openai_error

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = "sk-test-bad-input"
AUTH = {"Authorization": f"Bearer {KEY}"}
UPLOAD_LIMIT = 512 * 1024


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(tmp_path_factory):
    """One app for the whole module: the same server takes every bad request."""
    config = ServerConfig(role_dir=tmp_path_factory.mktemp("bad") / "roles", api_keys=(KEY,),
                          limits=Limits(max_upload_bytes=UPLOAD_LIMIT))
    async with app_client(config, FakeEngine()) as client:
        client.headers.update(AUTH)
        yield client


def _speech(**fields) -> dict:
    return {"json": {"model": "tts-1", "voice": "alloy", "input": "Hello there.", **fields}}


CLIP = tone_wav(2.0)
NOISE = b"This is a text file, not audio at all. " * 50
SHORT = encode(np.sin(np.arange(2400) / 3.0).astype(np.float32) * 0.5, 24000, "wav")  # 0.1 s
SILENT = encode(np.zeros(48000, dtype=np.float32), 24000, "wav")  # 2 s of nothing

# (id, method, path, request kwargs, status, param, code); ... = not checked
CASES = [
    ("empty input", "POST", "/v1/audio/speech", _speech(input=""), 400, "input", ...),
    ("blank input", "POST", "/v1/audio/speech", _speech(input="  \n\t "), 400, "input", ...),
    ("only punctuation", "POST", "/v1/audio/speech", _speech(input="... ?! --"), 400, "input", "empty_input"),
    ("only emoji", "POST", "/speak", {"json": {"name": "tone", "text": "\U0001F44B\U0001F389"}}, 400, "text",
     "empty_input"),
    ("100k input", "POST", "/v1/audio/speech", _speech(input="word " * 20000), 400, "input", "input_too_long"),
    ("100k speak", "POST", "/speak", {"json": {"name": "tone", "text": "x" * 100000}}, 400, "text",
     "input_too_long"),
    ("unknown voice", "POST", "/v1/audio/speech", _speech(voice="nobody"), 400, "voice", "voice_not_found"),
    ("unknown voice id", "POST", "/v1/audio/speech", _speech(voice={"id": "nobody"}), 400, "voice",
     "voice_not_found"),
    ("unknown role", "POST", "/speak", {"json": {"name": "nobody", "text": "Hi."}}, 400, "name", "voice_not_found"),
    ("unknown format", "POST", "/v1/audio/speech", _speech(response_format="ogg"), 400, "response_format", ...),
    ("unknown stream_format", "POST", "/v1/audio/speech", _speech(stream_format="websocket"), 400, "stream_format",
     ...),
    ("speed 10", "POST", "/v1/audio/speech", _speech(speed=10), 400, "speed", ...),
    ("speed 0", "POST", "/v1/audio/speech", _speech(speed=0), 400, "speed", ...),
    ("speed word", "POST", "/v1/audio/speech", _speech(speed="warp"), 400, "speed", ...),
    ("speak speed 10", "POST", "/speak", {"json": {"name": "tone", "text": "Hi.", "speed": 10}}, 400, "speed", ...),
    ("malformed json", "POST", "/v1/audio/speech",
     {"content": b'{"model": "tts-1", "input": "hi",', "headers": {"content-type": "application/json"}}, 400, None,
     ...),
    ("json array", "POST", "/v1/audio/speech", {"json": ["tts-1", "alloy", "hi"]}, 400, ..., ...),
    ("not json", "POST", "/v1/audio/speech", {"content": b"input=hi", "headers": {"content-type": "text/plain"}},
     400, ..., ...),
    ("input number", "POST", "/v1/audio/speech", _speech(input=123), 400, "input", ...),
    ("input list", "POST", "/v1/audio/speech", _speech(input=["a", "b"]), 400, "input", ...),
    ("voice number", "POST", "/v1/audio/speech", _speech(voice=7), 400, "voice", ...),
    ("speed list", "POST", "/v1/audio/speech", _speech(speed=[1]), 400, "speed", ...),
    ("seed negative", "POST", "/v1/audio/speech", _speech(seed=-1), 400, "seed", ...),
    ("missing fields", "POST", "/v1/audio/speech", {"json": {"model": "tts-1"}}, 400, ..., ...),
    ("instructions unfollowable", "POST", "/speak",
     {"json": {"name": "tone", "text": "Hi.", "instructions": "Whisper."}}, 400, ..., "unsupported_capability"),
    ("unknown language", "POST", "/v1/audio/speech", _speech(language="klingon"), 400, ...,
     "unsupported_capability"),
    ("no dialogue tags", "POST", "/multi_speak", {"json": {"text": "Hello."}}, 400, "text", ...),
    ("dialogue unknown role", "POST", "/multi_speak", {"json": {"text": "<role:ghost> Hello."}}, 400, "text",
     "voice_not_found"),
    ("clone unsupported", "POST", "/clone_voice", {"data": {"text": "Hi."}, "files": {
        "reference_audio_file": ("a.wav", SHORT, "audio/wav")}}, 400, ..., "unsupported_capability"),
    ("non-audio add_speaker", "POST", "/add_speaker",
     {"data": {"name": "junk"}, "files": {"audio_file": ("a.wav", NOISE, "audio/wav")}}, 400, "audio",
     "invalid_audio"),
    ("non-audio voices", "POST", "/v1/audio/voices",
     {"data": {"name": "junk"}, "files": {"audio_sample": ("a.mp3", NOISE, "audio/mpeg")}}, 400, "audio_sample",
     "invalid_audio"),
    ("too short clip", "POST", "/v1/audio/voices",
     {"data": {"name": "short"}, "files": {"audio_sample": ("a.wav", SHORT, "audio/wav")}}, 400, "audio_sample",
     "audio_too_short"),
    ("silent clip", "POST", "/add_speaker",
     {"data": {"name": "silent"}, "files": {"audio_file": ("a.wav", SILENT, "audio/wav")}}, 400, "audio",
     "invalid_audio"),
    ("bad base64", "POST", "/add_speaker", {"data": {"name": "b64", "audio": "%%% not base64 %%%"}}, 400, "audio",
     "invalid_audio"),
    ("base64 of text", "POST", "/add_speaker",
     {"data": {"name": "b64", "audio": base64.b64encode(NOISE).decode()}}, 400, "audio", "invalid_audio"),
    ("upload too large", "POST", "/v1/audio/voices",
     {"data": {"name": "big"}, "files": {"audio_sample": ("a.wav", b"\0" * (UPLOAD_LIMIT + 10), "audio/wav")}},
     413, "audio_sample", "file_too_large"),
    ("role ../x", "POST", "/add_speaker", {"data": {"name": "../x", "voice": "tone"}}, 400, "name", "invalid_name"),
    ("role ..", "POST", "/add_speaker", {"data": {"name": "..", "voice": "tone"}}, 400, "name", "invalid_name"),
    ("role a/b", "POST", "/add_speaker", {"data": {"name": "a/b", "voice": "tone"}}, 400, "name", "invalid_name"),
    ("role hidden", "POST", "/add_speaker", {"data": {"name": ".tmp-x", "voice": "tone"}}, 400, "name",
     "invalid_name"),
    ("role no source", "POST", "/add_speaker", {"data": {"name": "empty"}}, 400, ..., "missing_audio"),
    ("role unknown voice", "POST", "/add_speaker", {"data": {"name": "v", "voice": "nobody"}}, 400, "voice",
     "voice_not_found"),
    ("delete ../x", "POST", "/delete_speaker", {"data": {"name": "../x"}}, 400, "name", "invalid_name"),
    ("delete missing", "POST", "/delete_speaker", {"data": {"name": "ghost"}}, 404, "name", "role_not_found"),
    ("delete voice missing", "DELETE", "/v1/audio/voices/ghost", {}, 404, ..., ...),
    ("reference missing", "GET", "/v1/audio/voices/ghost/reference", {}, 404, ..., ...),
    ("reference traversal", "GET", "/v1/audio/voices/..%2F..%2Fetc/reference", {}, 404, ..., ...),
    ("unknown route", "GET", "/v1/audio/nothing", {}, 404, ..., ...),
    ("wrong method", "GET", "/v1/audio/speech", {}, 405, ..., ...),
    ("missing api key", "POST", "/v1/audio/speech", {**_speech(), "headers": {"Authorization": ""}}, 401, ...,
     "missing_api_key"),
    ("wrong api key", "POST", "/v1/audio/speech", {**_speech(), "headers": {"Authorization": "Bearer sk-wrong"}},
     401, ..., "invalid_api_key"),
    ("wrong scheme", "POST", "/v1/audio/speech", {**_speech(), "headers": {"Authorization": f"Basic {KEY}"}}, 401,
     ..., ...),
]


async def _good(http: httpx.AsyncClient) -> None:
    r = await http.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "Still here.",
                                                  "response_format": "pcm", "stream": False})
    assert r.status_code == 200 and len(r.content) > 24000, r.text[:200]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_bad_request_gets_openai_error_and_server_keeps_serving(http, case, caplog):
    _, method, path, kwargs, status, param, code = case
    with caplog.at_level(logging.ERROR):
        r = await http.request(method, path, **kwargs)
    err = assert_openai_error(r, status)
    if param is not ...:
        assert err["param"] == param, err
    if code is not ...:
        assert err["code"] == code, err
    if status == 401:
        assert err["type"] == "authentication_error"
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR], caplog.text  # no internal error
    await _good(http)


async def test_malformed_json_says_so(http):
    r = await http.post("/v1/audio/speech", content=b'{"model": "tts-1", "voice": "alloy", "input": "hi"',
                        headers={"content-type": "application/json"})
    err = assert_openai_error(r, 400)
    assert "JSON" in err["message"] and err["param"] is None, err
    await _good(http)


async def test_role_named_dotdot_with_real_audio(http):
    """Path tricks are refused even when the clip itself is fine."""
    for path, field in (("/add_speaker", "audio_file"), ("/v1/audio/voices", "audio_sample")):
        r = await http.post(path, data={"name": "../x"}, files={field: ("c.wav", CLIP, "audio/wav")})
        err = assert_openai_error(r, 400)
        assert err["param"] == "name" and err["code"] == "invalid_name"
    assert "x" not in (await http.get("/audio_roles")).json()["roles"]
    await _good(http)


async def test_hostile_ssml_is_refused_with_nothing_synthesised(http):
    """Issue 21: entity expansion, external entities, DOCTYPE, deep nesting, many and huge breaks, unclosed
    tags, NUL and surrogates: each a 4xx naming its code, before a byte is synthesised (the refusal times are
    in docs/benchmarks/ssml_hostile.md)."""
    before = (await http.get("/server_info")).json()["stats"]
    for name, (doc, _) in HOSTILE.items():
        body = json.dumps({"model": "tts-1", "voice": "alloy", "input": doc})  # ASCII: a lone surrogate as its escape
        r = await http.post("/v1/audio/speech", content=body, headers={"content-type": "application/json"})
        err = assert_openai_error(r, 400)
        assert err["param"] == "input" and err["code"], (name, err)
    for doc in ("The [[ wɜːld ]] is here.", "Say [x](/ʘʘ/) now."):  # raw phonemes in text are not read as such
        r = await http.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": doc,
                                                      "stream": False})
        assert r.status_code == 200, r.text[:200]
    after = (await http.get("/server_info")).json()["stats"]
    assert after["requests_total"] - before["requests_total"] == 2, (before, after)  # only the two above ran
    await _good(http)


async def test_no_request_failed_inside_the_server(http):
    """Runs last: after every bad request above, nothing failed inside the server."""
    s = (await http.get("/server_info")).json()["stats"]
    assert s["requests_failed_total"] == 0, s
    assert s["active_requests"] == 0
