"""What real clients send, in-process on a FakeEngine (issue 14): the openai SDK's FLAC read by libsndfile,
``instructions`` on an engine that cannot follow them, FlashTTS's own voice names, text in a script the
voice cannot read, Open WebUI's listings, the SDK's voice types, Markdown and emoji. The same clients on a
real server and the real voice, heard by speech recognition: tests/test_openai_sdk.py."""

from __future__ import annotations

import io

import numpy as np
import openai
import pytest
import soundfile as sf

from flashtts.engine import VoiceInfo

from fakes import FakeEngine, tone_wav
from support import assert_openai_error

SENTENCE = "The box was thrown beside the parked truck. The juice of lemons makes fine punch."
VOICES = (VoiceInfo("low", "Low", "a male tone", "en"), VoiceInfo("high", "High", "a female tone", "en"))


def _sdk(client) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url="http://localhost/v1", api_key="unused", max_retries=0, http_client=client)


async def test_streamed_flac_reads_with_soundfile(serve, tmp_path):
    """The SDK's default request (stream: true on this server) gives a FLAC libsndfile reads whole."""
    async with serve(FakeEngine(chunks=8)) as client:
        sdk = _sdk(client)
        data = (await sdk.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE,
                                              response_format="flac")).content
        async with sdk.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input=SENTENCE,
                                                                   response_format="flac") as streamed:
            await streamed.stream_to_file(tmp_path / "speech.flac")
    info = sf.info(io.BytesIO(data))
    assert info.samplerate == 24000 and info.channels == 1
    assert info.duration == pytest.approx(4.0, rel=0.01)  # two segments of 2 s: the header holds the real length
    samples, _ = sf.read(io.BytesIO(data), dtype="float32")
    assert len(samples) == info.frames
    with sf.SoundFile(io.BytesIO(data)) as f:  # block reads seek inside the file (psf_fseek failed on a stream header)
        f.seek(info.frames // 2)
        assert len(f.read(1000)) == 1000
    again, _ = sf.read(tmp_path / "speech.flac", dtype="float32")
    np.testing.assert_allclose(again, samples, atol=1e-4)


async def test_instructions_are_ignored_with_a_header(serve):
    """Home Assistant's OpenAI-TTS integration sends instructions whenever the user set them."""
    engine = FakeEngine()
    async with serve(engine) as client:
        sdk = _sdk(client)
        async with sdk.audio.speech.with_streaming_response.create(
                model="tts-1", voice="alloy", input=SENTENCE, instructions="Speak in a cheerful tone.",
                response_format="wav") as response:
            assert response.headers["x-instructions-ignored"] == "true"
            assert len(await response.read()) > 44
        plain = await sdk.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input=SENTENCE)
        assert "x-instructions-ignored" not in plain.headers
    assert len(engine.requests) == 4 and {q.instructions for q in engine.requests} == {None}  # never seen


async def test_strict_instructions_refuses(serve):
    async with serve(strict_instructions=True) as client:
        r = await client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": SENTENCE,
                                                        "instructions": "Whisper it."})
        err = assert_openai_error(r, 400)
        assert err["code"] == "unsupported_capability" and "instructions" in err["message"]


async def test_flashtts_voice_names_resolve(serve):
    """FlashTTS's client.py says name=male; its docs' dialogue example uses <role:female>/<role:male>."""
    engine = FakeEngine(voices=VOICES)
    async with serve(engine) as client:
        r = await client.post("/speak", json={"name": "male", "text": SENTENCE, "response_format": "wav",
                                              "stream": False})
        assert r.status_code == 200, r.text
        assert {q.voice for q in engine.requests} == {"low"}
        engine.requests.clear()
        text = ("<role:female>Glue the sheet to the dark blue background."
                "<role:male>The juice of lemons makes fine punch.")
        r = await client.post("/multi_speak", json={"text": text, "response_format": "wav", "stream": False})
        assert r.status_code == 200, r.text
        assert [(q.voice, q.text) for q in engine.requests] == [
            ("high", "Glue the sheet to the dark blue background."), ("low", "The juice of lemons makes fine punch.")]
        engine.requests.clear()
        # voice ids in another case (HIGH), through the openai route
        r = await client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "HIGH", "input": SENTENCE,
                                                        "response_format": "wav"})
        assert r.status_code == 200, r.text
        assert {q.voice for q in engine.requests} == {"high"}
        r = await client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "nobody_by_this_name",
                                                        "input": SENTENCE})
        assert assert_openai_error(r, 400)["code"] == "voice_not_found"


@pytest.mark.parametrize(("route", "payload", "param", "language"), [
    ("/v1/audio/speech", {"model": "tts-1", "voice": "alloy", "input": "你好，世界。"}, "input", "Chinese"),
    ("/v1/audio/speech", {"model": "tts-1", "voice": "alloy", "input": "こんにちは、世界。"}, "input", "Japanese"),
    ("/v1/audio/speech", {"model": "tts-1", "voice": "tone", "input": "Привет, как дела?"}, "input", "Russian"),
    ("/speak", {"name": "tone", "text": "你好，世界。"}, "text", "Chinese"),
])
async def test_unreadable_script_is_a_400_naming_the_language(fake_client, route, payload, param, language):
    err = assert_openai_error(await fake_client.post(route, json=payload), 400)
    assert err["param"] == param and err["code"] == "unsupported_language"
    assert language in err["message"], err
    assert not fake_client.engine.requests


async def test_cosyvoice_client_default_text_is_refused_before_audio(fake_client):
    """CosyVoice's client.py: GET with form fields, default text and speaker."""
    default_text = "你好，我是通义千问语音合成大模型，请问有什么可以帮您的吗？"
    r = await fake_client.request("GET", "/inference_sft", data={"tts_text": default_text, "spk_id": "中文女"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "tts_text" and "Chinese" in err["message"]


async def test_mixed_text_with_a_few_foreign_letters_is_spoken(fake_client):
    text = "The word for tea in Chinese is 茶, said with a falling tone."
    r = await fake_client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": text,
                                                         "response_format": "wav"})
    assert r.status_code == 200, r.text
    assert "茶" in " ".join(q.text for q in fake_client.engine.requests)


async def test_open_webui_listings(fake_client):
    """Open WebUI asks GET {base}/audio/models and {base}/audio/voices (no key) and reads 'models' / 'voices'."""
    response = await fake_client.get("/v1/audio/models")
    assert response.status_code == 200
    assert {"tts-1", "tts-1-hd", "fake"} <= {m["id"] for m in response.json().get("models", [])}
    response = await fake_client.get("/v1/audio/voices")
    assert response.status_code == 200
    available = {voice["id"]: voice["name"] for voice in response.json().get("voices", [])}
    assert available["tone"] == "Tone" and "narrator" in available


async def test_voice_objects_match_the_sdk_types(fake_client):
    from openai.types.audio import Voice as SDKVoice
    from openai.types.audio.voice_deleted import VoiceDeleted

    listed = (await fake_client.get("/v1/audio/voices")).json()["data"]
    for item in listed:
        voice = SDKVoice.model_validate(item)  # pydantic validation against the SDK's own type
        assert voice.object == "audio.voice" and isinstance(voice.created_at, int)
    sdk = _sdk(fake_client)
    created = await sdk.audio.voices.create(name="sdk-voice", audio_sample=("sample.wav", tone_wav()),
                                            consent="cons_unused")
    assert isinstance(created, SDKVoice) and created.type == "audio_sample" and created.created_at > 1_600_000_000
    SDKVoice.model_validate(created.model_dump())
    deleted = await sdk.audio.voices.delete("sdk-voice")
    assert isinstance(deleted, VoiceDeleted) and deleted.deleted
    VoiceDeleted.model_validate(deleted.model_dump())


async def test_open_listings_with_api_key(serve, tmp_path):
    async with serve(role_dir=tmp_path / "a", api_keys=("sk-k",)) as client:
        assert (await client.get("/v1/audio/voices")).status_code == 401
    async with serve(role_dir=tmp_path / "b", api_keys=("sk-k",), open_listings=True) as client:
        for path in ("/v1/audio/voices", "/v1/audio/models", "/v1/models"):
            assert (await client.get(path)).status_code == 200, path
        assert (await client.get("/v1/audio/voices/narrator/reference")).status_code == 401
        r = await client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "tone", "input": "Hi."})
        assert r.status_code == 401


async def test_markdown_and_emoji_are_not_read_aloud(fake_client):
    """A chat answer pasted as is (Open WebUI reads assistant messages): markup and emoji reach no engine."""
    text = "## Notes\n\n**Glue** the *sheet* to the `dark` blue background 📄👋"
    said = {}
    for normalize in (True, False):
        fake_client.engine.requests.clear()
        r = await fake_client.post("/v1/audio/speech", json={
            "model": "tts-1", "voice": "tone", "input": text, "response_format": "wav", "stream": False,
            "normalize": normalize})
        assert r.status_code == 200, r.text
        said[normalize] = " ".join(q.text for q in fake_client.engine.requests)
    assert said[True].split() == "Notes. Glue the sheet to the dark blue background".split()
    assert "**Glue**" in said[False] and "📄" in said[False]  # normalize: false speaks the text as given
