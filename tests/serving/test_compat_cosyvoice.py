"""CosyVoice's API (seeds/004) in-process on a FakeEngine: GET answers raw 16-bit PCM at 22,050 Hz (its
client.py), POST a WAV (its curl and requests examples), ``format`` overrides either; what needs cloning or
instructions is refused naming what the engine can do; missing fields are clear 400s. The document's
clients on a real server and the real voice: tests/compat/test_cosyvoice.py."""

from __future__ import annotations

import numpy as np
import pytest

from flashtts.audio import decode
from flashtts.engine import CANNOT

from compat_helpers import wav_params
from fakes import FakeEngine, tone_wav
from support import assert_openai_error

EN = "The box was thrown beside the parked truck."
DOC_EN = "Hello, I am a test"  # the document's instruct example
SECONDS = 0.75  # what the fake engine says for one segment


async def test_get_is_raw_pcm_at_22050_and_post_a_wav(fake_client):
    raw = await fake_client.request("GET", "/inference_sft", data={"tts_text": EN, "spk_id": "英文男"})
    assert raw.status_code == 200, raw.text
    assert raw.headers["content-type"] == "application/octet-stream" and raw.content[:4] != b"RIFF"
    assert len(raw.content) / 2 / 22050 == pytest.approx(SECONDS, abs=0.002)  # headerless, as long as the audio
    assert np.abs(np.frombuffer(raw.content, dtype=np.int16)).max() > 1000
    wav = await fake_client.post("/inference_sft", data={"tts_text": EN, "spk_id": "中文女"})
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    assert wav.headers["x-custom-header-samplerate"] == "22050"
    assert wav.content[:4] == b"RIFF" and wav_params(wav.content) == (1, 2, 22050)
    assert len(decode(wav.content, 22050)) / 22050 == pytest.approx(SECONDS, abs=0.01)


async def test_curl_example_multipart_sft(fake_client):
    # curl -X POST -F tts_text=... -F spk_id=中文女 --output output.wav (multipart/form-data)
    r = await fake_client.post("/inference_sft", files={"tts_text": (None, EN), "spk_id": (None, "中文女")})
    assert r.status_code == 200, r.text
    assert r.content[:4] == b"RIFF"
    assert len(decode(r.content, 22050)) / 22050 == pytest.approx(SECONDS, abs=0.01)


async def test_format_field_overrides_the_method_default(fake_client):
    raw = await fake_client.post("/inference_sft", data={"tts_text": EN, "spk_id": "中文女", "format": "pcm"})
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/octet-stream"
    wav = await fake_client.request("GET", "/inference_sft", data={"tts_text": EN, "spk_id": "中文女", "format": "wav"})
    assert raw.content[:4] != b"RIFF" and wav.content[:4] == b"RIFF"
    np.testing.assert_array_equal(np.frombuffer(raw.content, "<i2"), np.frombuffer(wav.content[44:], "<i2"))


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route, payload, with_prompt, need", [
    ("/inference_zero_shot", {"tts_text": "希望你以后能够做的比我还好呦",
                              "prompt_text": "希望你以后能够做的比我还好呦"}, True, "clone"),
    ("/inference_cross_lingual", {"tts_text": "Hello, this is a cross-lingual test"}, True, "clone"),
    ("/inference_instruct", {"tts_text": DOC_EN, "spk_id": "中文女",
                             "instruct_text": "Speak with a cheerful and energetic tone"}, False, "instructions"),
    ("/inference_instruct2", {"tts_text": DOC_EN, "instruct_text": "Speak with a cheerful and energetic tone"}, True,
     "clone"),
])
async def test_examples_that_need_clone_or_instructions_are_refused(fake_client, method, route, payload,
                                                                    with_prompt, need):
    files = {"prompt_wav": ("prompt_audio.wav", tone_wav(), "audio/wav")} if with_prompt else None
    r = await fake_client.request(method, route, data=payload, files=files)
    err = assert_openai_error(r, 400)
    assert route in err["message"] and CANNOT[need] in err["message"] and "'fake'" in err["message"], err
    assert err["code"] == "unsupported_capability"
    assert not fake_client.engine.requests


@pytest.mark.parametrize("route, payload, param", [
    ("/inference_sft", {"tts_text": EN}, "spk_id"),
    ("/inference_sft", {"spk_id": "中文女"}, "tts_text"),
    ("/inference_sft", {"tts_text": EN, "spk_id": "no_such_speaker"}, "spk_id"),
    ("/inference_zero_shot", {"tts_text": EN, "prompt_text": "x"}, "prompt_wav"),
])
async def test_missing_or_unknown_fields_are_clear_400s(serve, route, payload, param):
    from flashtts.engine import Capabilities

    async with serve(FakeEngine(Capabilities(clone=True))) as client:  # a cloning engine: the field is missing
        err = assert_openai_error(await client.post(route, data=payload), 400)
    assert err["param"] == param, err
