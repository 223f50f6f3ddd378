"""Real clients, unchanged, against a real server (issue 14): the openai SDK's FLAC read by
libsndfile, ``instructions`` on an engine that cannot follow them, FlashTTS's own voice names,
text in a script the voice cannot read, Open WebUI's listings."""

from __future__ import annotations

import io

import httpx
import openai
import pytest
import soundfile as sf

from support import wer
from live import assert_openai_error, serving, to_16k

pytestmark = pytest.mark.slow

SENTENCE = "Rice is often served in round bowls."


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clients")
    with serving(tmp, "--role_dir", str(tmp / "roles")) as s:
        yield s


@pytest.fixture(scope="module")
def sdk(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120)


def test_streamed_flac_reads_with_soundfile(sdk, tmp_path, transcribe):
    """The SDK's default request (stream: true on this server) gives a FLAC libsndfile reads whole."""
    response = sdk.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE, response_format="flac")
    data = response.content
    info = sf.info(io.BytesIO(data))
    assert info.samplerate == 24000 and info.channels == 1
    assert 1.0 < info.duration < 10.0, info.duration  # the header holds the real length
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert len(samples) == info.frames
    # block reads seek inside the file (psf_fseek failed on a stream header)
    with sf.SoundFile(io.BytesIO(data)) as f:
        f.seek(info.frames // 2)
        assert len(f.read(1000)) == 1000
    path = tmp_path / "speech.flac"
    with sdk.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input=SENTENCE,
                                                         response_format="flac") as streamed:
        streamed.stream_to_file(path)
    again, _ = sf.read(path, dtype="float32")
    assert 0.7 < len(again) / len(samples) < 1.4  # the same sentence (Piper varies its timing a little per run)
    assert wer(SENTENCE, transcribe(to_16k(data, "flac"))) <= 0.2
