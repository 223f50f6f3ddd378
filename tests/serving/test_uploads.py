"""Reference uploads in every common container are decoded to mono at the engine's rate (the fake engine's
16 kHz); bad clips get 400."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from flashtts.audio import decode, encode


def speech_like(seconds: float, rate: int = 24000) -> np.ndarray:
    """A voiced, stereo-safe test signal: a 150 Hz buzz with a slow amplitude envelope."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sign(np.sin(2 * np.pi * 150 * t)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def m4a(samples: np.ndarray, rate: int = 24000) -> bytes:
    """AAC in an MP4 (.m4a) container, stereo, as phones record."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="ipod") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "stereo"
        frame = av.AudioFrame.from_ndarray(np.stack([samples, samples]).astype(np.float32), format="fltp",
                                           layout="stereo")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


CLIP = speech_like(3.0)
UPLOADS = {
    "clip.wav": encode(CLIP, 24000, "wav"),
    "clip.mp3": encode(CLIP, 24000, "mp3"),
    "clip.flac": encode(CLIP, 24000, "flac"),
    "clip.ogg": encode(CLIP, 24000, "opus"),
    "clip.m4a": m4a(CLIP),
}


@pytest.mark.parametrize("filename", sorted(UPLOADS))
async def test_upload_formats_are_stored_as_mono_at_the_engine_rate(fake_client, filename):
    data = UPLOADS[filename]
    r = await fake_client.post("/add_speaker", data={"name": "up", "reference_text": "a buzz"},
                          files={"audio_file": (filename, data, "application/octet-stream")})
    assert r.status_code == 200, r.text
    ref = await fake_client.get("/v1/audio/voices/up/reference")
    assert ref.status_code == 200
    stored = decode(ref.content, 16000)
    # same length as the upload (codec padding aside) and the same signal, not a different channel mix
    assert abs(len(stored) / 16000 - 3.0) < 0.1
    with av.open(io.BytesIO(ref.content)) as c:
        assert c.streams.audio[0].channels == 1 and c.streams.audio[0].rate == 16000
    # level kept: a stereo upload averaged to mono, not summed (+3 dB) by a downmix
    rms = float(np.sqrt(np.mean(stored ** 2)))
    assert rms == pytest.approx(float(np.sqrt(np.mean(CLIP ** 2))), rel=0.15)


@pytest.mark.parametrize("seconds,code", [(0.4, "audio_too_short"), (61.0, "audio_too_long")])
async def test_clip_length_limits(fake_client, seconds, code):
    r = await fake_client.post("/add_speaker", data={"name": "bad"},
                          files={"audio_file": ("x.wav", encode(speech_like(seconds), 24000, "wav"), "audio/wav")})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == code
    assert "bad" not in (await fake_client.get("/audio_roles")).json()["roles"]


async def test_base64_upload(fake_client):
    import base64

    clip = base64.b64encode(UPLOADS["clip.mp3"]).decode()
    r = await fake_client.post("/add_speaker", data={"name": "b64", "audio": clip})
    assert r.status_code == 200, r.text
    assert "b64" in (await fake_client.get("/audio_roles")).json()["roles"]
