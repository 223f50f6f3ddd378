"""Hostile audio uploads, made on the fly: many channels, odd sample formats and rates, bombs."""

from __future__ import annotations

import io
import struct

import av
import numpy as np


def wav(channels: int = 1, rate: int = 24000, seconds: float = 2.0, bits: int = 16, float_samples: bool = False,
        tone: float = 220.0) -> bytes:
    """A RIFF/WAVE file of a sine tone on every channel (PCM 8/16/32-bit or 32-bit float)."""
    n = int(rate * seconds)
    x = 0.3 * np.sin(2 * np.pi * tone * np.arange(n) / rate)
    data = np.repeat(x[:, None], channels, axis=1)
    if float_samples:
        pcm, tag = data.astype("<f4").tobytes(), 3
    elif bits == 8:
        pcm, tag = (data * 127 + 128).astype("u1").tobytes(), 1
    elif bits == 32:
        pcm, tag = (data * 2**31 * 0.99).astype("<i4").tobytes(), 1
    else:
        pcm, tag = (data * 32767).astype("<i2").tobytes(), 1
    bits = 32 if float_samples else bits
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, tag, channels, rate, rate * block, block, bits)
            + b"data" + struct.pack("<I", len(pcm)) + pcm)


def encoded(container: str, codec: str, channels: int, seconds: float = 2.0, rate: int = 48000,
            silent: bool = False, layout: str | None = None) -> bytes:
    """``seconds`` of a tone (or silence) on ``channels`` channels, encoded with PyAV."""
    buf = io.BytesIO()
    out = av.open(buf, mode="w", format=container)
    stream = out.add_stream(codec, rate=rate)
    stream.layout = layout or f"{channels}c"
    fmt = stream.codec_context.format.name
    per = 4800
    done = 0
    total = int(rate * seconds)
    t = 0
    while done < total:
        n = min(per, total - done)
        if silent:
            block = np.zeros((channels, n), dtype=np.float32)
        else:
            tone = 0.3 * np.sin(2 * np.pi * 220 * (np.arange(n) + t) / rate).astype(np.float32)
            block = np.repeat(tone[None, :], channels, axis=0)
        t += n
        frame = av.AudioFrame.from_ndarray(block.reshape(1, -1) if not fmt.endswith("p") else block,
                                           format="flt" if not fmt.endswith("p") else "fltp",
                                           layout=stream.layout.name)
        frame.sample_rate = rate
        frame.pts = done
        for packet in stream.encode(frame):
            out.mux(packet)
        done += n
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    return buf.getvalue()


def flac_bomb(seconds: float, rate: int = 8000) -> bytes:
    """A FLAC of ``seconds`` of digital silence: hours fit in a few kilobytes."""
    return encoded("flac", "flac", 1, seconds=seconds, rate=rate, silent=True)
