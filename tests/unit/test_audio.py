import io

import av
import numpy as np
import pytest

from flashtts.audio import FORMATS, AudioDecodeError, Effects, Encoder, decode, encode


def tone(seconds=3.0, rate=22050):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "pcm"])
@pytest.mark.parametrize("live", [False, True])
def test_encoders_roundtrip(fmt, live):
    x = tone()
    enc = Encoder(fmt, 22050, live=live)
    data = enc.header()
    for i in range(0, len(x), 3000):
        data += enc.write(x[i:i + 3000])
    data += enc.finish()
    container = av.open(io.BytesIO(data))
    stream = container.streams.audio[0]
    assert stream.rate in (24000, 48000)  # opus always decodes at 48 kHz
    y = decode(data, 24000)
    # AAC adds 1024 priming samples, live MP3 its encoder delay: a few tens of ms at most
    assert abs(len(y) / 24000 - 3.0) < 0.08
    assert abs(enc.samples_out / 24000 - 3.0) < 0.01


def test_pcm_is_24k_s16le():
    data = encode(tone(2.0), 22050, "pcm")
    assert abs(len(data) / 2 / 24000 - 2.0) < 0.01


def test_decode_rejects_non_audio():
    with pytest.raises(AudioDecodeError):
        decode(b"definitely not audio" * 50, 24000)
    with pytest.raises(AudioDecodeError):
        decode(b"", 24000)


@pytest.mark.parametrize("speed,pitch", [(2.0, 1.0), (0.5, 1.0), (1.0, 1.3), (4.0, 1.0), (0.25, 1.0)])
def test_effects_change_length_by_speed_only(speed, pitch):
    x = tone(2.0)
    fx = Effects(22050, speed=speed, pitch=pitch)
    y = np.concatenate([fx(x[i:i + 4000]) for i in range(0, len(x), 4000)] + [fx(None)])
    assert abs(len(y) / 22050 - 2.0 / speed) < 0.05 * (2.0 / speed)


def test_decode_downmixes_any_channel_count_and_refuses_more_than_64():
    from flashtts import audio

    from robust.hostile_audio import wav

    one = audio.decode(wav(1, seconds=0.5), 22050)
    for channels in (2, 7, 8, 9, 16, 64):  # 8+ planar channels once crashed PyAV's to_ndarray
        many = audio.decode(wav(channels, seconds=0.5), 22050)
        assert many.shape == one.shape and np.allclose(many, one, atol=1e-3), channels
    with pytest.raises(audio.AudioDecodeError, match="65 channels"):
        audio.decode(wav(65, seconds=0.5), 22050)


def test_decode_stops_at_the_length_limit_before_the_end(monkeypatch):
    from flashtts import audio

    from robust.hostile_audio import flac_bomb

    seen = []
    real = audio._MonoDownmix.__call__

    def counting(self, frame):
        seen.append(0 if frame is None else frame.samples / frame.sample_rate)
        return real(self, frame)

    monkeypatch.setattr(audio._MonoDownmix, "__call__", counting)
    bomb = flac_bomb(600)  # ten minutes of silence in a small file
    with pytest.raises(audio.AudioTooLongError):
        audio.decode(bomb, 24000, max_seconds=5)
    assert sum(seen) <= 5.0  # nothing past the limit was resampled
