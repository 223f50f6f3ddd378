"""Acceptance 1: a real server driven by the official ``openai`` SDK speaks intelligibly.

The mp3 the SDK gets back is decoded with PyAV and transcribed by faster-whisper tiny.en;
the word error rate over five Harvard sentences must be at most 0.15.
"""

from __future__ import annotations

import base64
import json

import openai
import pytest

from support import HARVARD, wer
from live import audio_info, serving, to_16k

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sdk")
    with serving(tmp, "--role_dir", str(tmp / "roles")) as s:
        yield s


@pytest.fixture(scope="module")
def sdk(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120)


def test_sdk_mp3_is_intelligible(sdk, transcribe):
    hypotheses = []
    for i, sentence in enumerate(HARVARD):
        voice = "alloy" if i % 2 == 0 else "joe"  # an OpenAI stock name and the engine's own voice
        response = sdk.audio.speech.create(model="tts-1", voice=voice, input=sentence)
        data = response.content
        assert response.response.headers["content-type"] == "audio/mpeg"
        assert data[:3] == b"ID3" or data[0] == 0xFF, data[:8]
        seconds, rate, _ = audio_info(data)
        assert rate == 24000
        assert 1.0 < seconds < 10.0, seconds
        heard = transcribe(to_16k(data))
        print(f"{sentence!r:50} -> {heard!r}  (WER {wer(sentence, heard):.2f}, {seconds:.2f} s)")
        hypotheses.append(heard)
    aggregate = wer(" ".join(HARVARD), " ".join(hypotheses))
    print(f"aggregate WER {aggregate:.3f}")
    assert aggregate <= 0.15


def test_sdk_every_format_and_speed(sdk):
    """Every response_format the SDK can ask for comes back as what it says."""
    magic = {"mp3": (b"ID3", b"\xff"), "opus": (b"OggS",), "aac": (b"\xff",), "flac": (b"fLaC",), "wav": (b"RIFF",)}
    for fmt, starts in magic.items():
        data = sdk.audio.speech.create(model="tts-1", voice="alloy", input="The box was thrown beside the parked truck.",
                                       response_format=fmt, speed=1.25).content
        assert data.startswith(starts), (fmt, data[:8])
        seconds, _, _ = audio_info(data)
        assert seconds > 0.5, (fmt, seconds)
    pcm = sdk.audio.speech.create(model="tts-1", voice="alloy", input="The box was thrown beside the parked truck.",
                                  response_format="pcm").content
    assert len(pcm) % 2 == 0 and len(pcm) / 2 / 24000 > 0.5


def test_sdk_speed_changes_duration(sdk):
    text = "The boy was there when the sun rose."
    slow = sdk.audio.speech.create(model="tts-1", voice="alloy", input=text, response_format="pcm", speed=0.5).content
    fast = sdk.audio.speech.create(model="tts-1", voice="alloy", input=text, response_format="pcm", speed=2.0).content
    assert len(slow) > 2.5 * len(fast), (len(slow), len(fast))


def test_sdk_sse_stream(sdk, transcribe):
    sentence = HARVARD[1]
    events = []
    with sdk.audio.speech.with_streaming_response.create(model="gpt-4o-mini-tts", voice="alloy", input=sentence,
                                                         stream_format="sse") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
    types = [e["type"] for e in events]
    assert types[-1] == "speech.audio.done" and set(types[:-1]) == {"speech.audio.delta"}, types
    usage = events[-1]["usage"]
    assert usage["input_tokens"] == len(sentence) and usage["output_tokens"] > 0
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert wer(sentence, transcribe(to_16k(audio))) <= 0.25


def test_sdk_errors_and_models(sdk):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.audio.speech.create(model="tts-1", voice="nobody-here", input="Hello.")
    assert info.value.status_code == 400
    assert info.value.body["code"] == "voice_not_found" and info.value.body["param"] == "voice"
    assert "nobody-here" in info.value.body["message"]
    ids = {m.id for m in sdk.models.list().data}
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "piper"} <= ids
    # the voice object form {"id": ...}, here a seeded role
    data = sdk.audio.speech.create(model="tts-1", voice={"id": "narrator"}, input="Hello there.").content
    assert audio_info(data)[0] > 0.3
