"""Helpers of the compatibility tests: Prometheus text parsing, WAV files as the documents' clients save them."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import httpx
import numpy as np


def scrape(url: str) -> dict[str, float]:
    """``/metrics`` as {series: value} (histogram buckets and comments dropped)."""
    r = httpx.get(url + "/metrics", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    out: dict[str, float] = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#") or "_bucket{" in line:
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def save_pcm_as_wav(pcm: bytes, path: Path, rate: int) -> None:
    """What CosyVoice's client.py does: int16 samples from the body, saved as a WAV at ``rate``."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype=np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


def wav_params(data: bytes) -> tuple[int, int, int]:
    """(channels, sample width, rate) of a WAV file, read with the standard library."""
    with wave.open(io.BytesIO(data)) as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate()
