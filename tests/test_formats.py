"""Acceptance 2: every response_format decodes with PyAV to the expected duration and rate.

The expected duration is the server's own account of the request: ``X-Audio-Duration`` for a
complete file (``stream: false``) and the rise of ``audio_seconds_total`` for a streamed one.
Both must agree with what PyAV decodes within 2%; every output is 24 kHz mono.
"""

from __future__ import annotations

import io
import struct
import wave

import av
import httpx
import pytest

from support import HARVARD, wer
from live import audio_info, serving, stats, to_16k, wait_idle

pytestmark = pytest.mark.slow

FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"]
MEDIA = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac", "wav": "audio/wav",
         "pcm": "audio/pcm"}
# about 7 s of speech: long enough that codec priming/padding (AAC: ~1-2k samples) stays well inside 2%
TEXT = " ".join(HARVARD[:3])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("formats")
    with serving(tmp, "--role_dir", str(tmp / "roles")) as s:
        yield s


def _speech(server, fmt: str, stream: bool, text: str = TEXT) -> tuple[httpx.Response, float]:
    """One request and the seconds of audio the server says it produced for it."""
    before = wait_idle(server.url)["audio_seconds_total"]
    r = httpx.post(server.url + "/v1/audio/speech", timeout=120,
                   json={"model": "tts-1", "voice": "alloy", "input": text, "response_format": fmt, "stream": stream})
    assert r.status_code == 200, r.text[:300]
    produced = wait_idle(server.url)["audio_seconds_total"] - before
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
def test_complete_file_duration_and_rate(server, fmt):
    r, produced = _speech(server, fmt, stream=False)
    assert r.headers["content-type"] == MEDIA[fmt]
    expected = float(r.headers["x-audio-duration"])
    assert expected > 4.0, expected
    seconds, rate = _decoded(fmt, r.content)
    print(f"{fmt}: header {expected:.3f} s, decoded {seconds:.3f} s, engine {produced:.3f} s, {rate} Hz")
    assert rate == 24000
    assert seconds == pytest.approx(expected, rel=0.02)
    # the header is the engine's audio, not an estimate (a wrong rate would be ~9% off: 22050 vs 24000)
    assert expected == pytest.approx(produced, rel=0.02)
    if fmt == "wav":
        with wave.open(io.BytesIO(r.content)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
            assert w.getnframes() == (len(r.content) - 44) // 2  # exact sizes in a complete file
        riff = struct.unpack("<I", r.content[4:8])[0]
        assert riff == len(r.content) - 8


@pytest.mark.parametrize("fmt", FORMATS)
def test_streamed_response_decodes_completely(server, fmt):
    r, produced = _speech(server, fmt, stream=True)
    assert r.headers["content-type"] == MEDIA[fmt]
    assert "x-audio-duration" not in r.headers
    assert r.headers.get("transfer-encoding") == "chunked"
    seconds, rate = _decoded(fmt, r.content)
    print(f"{fmt} streamed: decoded {seconds:.3f} s, engine {produced:.3f} s, {rate} Hz")
    assert rate == 24000
    assert produced > 4.0
    assert seconds == pytest.approx(produced, rel=0.02)


def test_pcm_is_s16le_24k_mono_speech(server, transcribe):
    """Read as s16le 24 kHz mono, the raw bytes are the sentence (a wrong rate or byte order is not)."""
    r, _ = _speech(server, "pcm", stream=False, text=HARVARD[2])
    heard = transcribe(to_16k(r.content, "pcm"))
    print(repr(heard))
    assert wer(HARVARD[2], heard) <= 0.25
