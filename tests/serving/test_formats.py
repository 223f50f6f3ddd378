"""Every response_format decodes with PyAV to the expected duration and rate (in-process, FakeEngine).

The expected duration is the server's own account of the request: ``X-Audio-Duration`` for a complete
file (``stream: false``) and the rise of ``audio_seconds_total`` for a streamed one. Both must agree with
what PyAV decodes within 2%, and with what the engine produced; every output is 24 kHz mono (the fake
engine speaks at 16 kHz, so every answer is resampled). Real speech read back as s16le 24 kHz:
tests/test_openai_sdk.py::test_pcm_is_s16le_24k_mono_speech.
"""

from __future__ import annotations

import io
import struct
import wave

import av
import pytest
import pytest_asyncio

from flashtts.config.settings import ServerConfig

from fakes import FakeEngine
from live import audio_info
from support import app_client

pytestmark = pytest.mark.asyncio(loop_scope="module")

FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"]
MEDIA = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac", "wav": "audio/wav",
         "pcm": "audio/pcm"}
SECONDS = 7.0  # long enough that codec priming/padding (AAC: ~1-2k samples) stays well inside 2%


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(tmp_path_factory):
    engine = FakeEngine(chunks=28, chunk_seconds=SECONDS / 28)
    async with app_client(ServerConfig(role_dir=tmp_path_factory.mktemp("formats") / "roles"), engine) as c:
        yield c


async def _speech(client, fmt: str, stream: bool):
    """One request and the seconds of audio the server says it produced for it."""
    before = (await client.get("/server_info")).json()["stats"]["audio_seconds_total"]
    r = await client.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "Seven seconds.",
                                                    "response_format": fmt, "stream": stream})
    assert r.status_code == 200, r.text[:300]
    produced = (await client.get("/server_info")).json()["stats"]["audio_seconds_total"] - before
    assert produced == pytest.approx(SECONDS, rel=0.001)  # counted at the engine's rate, before encoding
    return r, produced


def _decoded(fmt: str, data: bytes) -> tuple[float, int]:
    """(seconds, sample rate the file declares) of one response body."""
    if fmt == "pcm":
        assert len(data) % 2 == 0
        return len(data) / 2 / 24000, 24000
    seconds, rate, _ = audio_info(data)
    if fmt == "opus":
        # Opus always decodes at 48 kHz; the stream's own rate is the OpusHead input rate
        with av.open(io.BytesIO(data)) as c:
            head = c.streams.audio[0].codec_context.extradata
        assert head[:8] == b"OpusHead" and head[9] == 1, head  # mono
        rate = struct.unpack("<I", head[12:16])[0]
    else:
        with av.open(io.BytesIO(data)) as c:
            assert c.streams.audio[0].codec_context.channels == 1
    return seconds, rate


@pytest.mark.parametrize("fmt", FORMATS)
async def test_complete_file_duration_and_rate(client, fmt):
    r, produced = await _speech(client, fmt, stream=False)
    assert r.headers["content-type"] == MEDIA[fmt]
    expected = float(r.headers["x-audio-duration"])
    seconds, rate = _decoded(fmt, r.content)
    assert rate == 24000
    assert seconds == pytest.approx(expected, rel=0.02)
    # the header is the engine's audio, not an estimate (a wrong rate would be 33% off: 16000 vs 24000)
    assert expected == pytest.approx(produced, rel=0.02)
    if fmt == "wav":
        with wave.open(io.BytesIO(r.content)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
            assert w.getnframes() == (len(r.content) - 44) // 2  # exact sizes in a complete file
        riff = struct.unpack("<I", r.content[4:8])[0]
        assert riff == len(r.content) - 8


@pytest.mark.parametrize("fmt", FORMATS)
async def test_streamed_response_decodes_completely(client, fmt):
    r, produced = await _speech(client, fmt, stream=True)
    assert r.headers["content-type"] == MEDIA[fmt]
    assert "x-audio-duration" not in r.headers
    assert r.headers["x-accel-buffering"] == "no"
    seconds, rate = _decoded(fmt, r.content)
    assert rate == 24000
    assert seconds == pytest.approx(produced, rel=0.02)
