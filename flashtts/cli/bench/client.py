"""Client-side measurement of streamed speech: time to first audio, latency, underruns.

Each request streams 24 kHz 16-bit mono PCM from ``/v1/audio/speech``; a stream "underruns"
when, after its first chunk, a player that started at that chunk would have run out of audio
before the next chunk arrived.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

PCM_BYTES_PER_SECOND = 24000 * 2
TEXTS_FILE = Path(__file__).with_name("texts.txt")


def load_texts(path: Path | None = None) -> list[str]:
    lines = (path or TEXTS_FILE).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@dataclass
class StreamResult:
    text_chars: int
    ok: bool
    status: int | None = None
    error: str | None = None
    start: float = 0.0
    ttfa: float | None = None
    latency: float | None = None
    audio_seconds: float = 0.0
    underruns: int = 0
    stall_seconds: float = 0.0

    @property
    def rtf(self) -> float | None:
        """Audio seconds per second of generation after the first chunk (higher is faster)."""
        if not self.ok or self.latency is None or self.ttfa is None:
            return None
        gen = self.latency - self.ttfa
        return self.audio_seconds / gen if gen > 0 else None


async def stream_one(client: httpx.AsyncClient, text: str, voice: str, extra: dict) -> StreamResult:
    body = {"model": "tts-1", "input": text, "voice": voice, "response_format": "pcm", "stream": True, **extra}
    res = StreamResult(text_chars=len(text), ok=False, start=time.perf_counter())
    received = 0
    first_at: float | None = None
    try:
        async with client.stream("POST", "/v1/audio/speech", json=body) as resp:
            res.status = resp.status_code
            if resp.status_code != 200:
                res.error = (await resp.aread()).decode(errors="replace")[:300]
                return res
            async for chunk in resp.aiter_bytes():
                now = time.perf_counter()
                if not chunk:
                    continue
                if first_at is None:
                    first_at = now
                    res.ttfa = now - res.start
                else:
                    played = now - first_at - res.stall_seconds
                    buffered = received / PCM_BYTES_PER_SECOND
                    if played > buffered:  # the player ran dry before this chunk came
                        res.underruns += 1
                        res.stall_seconds += played - buffered
                received += len(chunk)
        res.latency = time.perf_counter() - res.start
        res.audio_seconds = received / PCM_BYTES_PER_SECOND
        res.ok = True
    except httpx.HTTPError as exc:
        res.error = f"{type(exc).__name__}: {exc}"
    return res


@dataclass
class RunSpec:
    mode: str  # "poisson" or "concurrency"
    load: float  # requests/s for poisson, streams for concurrency
    requests: int
    seed: int = 0


@dataclass
class RunSummary:
    mode: str
    load: float
    requests: int
    ok: int
    errors: int
    wall_seconds: float
    audio_seconds: float
    audio_seconds_per_second: float
    ttfa_p50: float | None
    ttfa_p95: float | None
    ttfa_p99: float | None
    latency_p50: float | None
    latency_p95: float | None
    rtf_median: float | None
    streams_with_underruns: int
    underrun_events: int
    error_samples: list[str] = field(default_factory=list)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def summarise(spec: RunSpec, results: list[StreamResult], wall: float) -> RunSummary:
    good = [r for r in results if r.ok]
    ttfa = [r.ttfa for r in good if r.ttfa is not None]
    lat = [r.latency for r in good if r.latency is not None]
    rtfs = [r.rtf for r in good if r.rtf is not None]
    audio = sum(r.audio_seconds for r in good)
    return RunSummary(
        mode=spec.mode, load=spec.load, requests=len(results), ok=len(good), errors=len(results) - len(good),
        wall_seconds=round(wall, 3), audio_seconds=round(audio, 3),
        audio_seconds_per_second=round(audio / wall, 3) if wall > 0 else 0.0,
        ttfa_p50=_pct(ttfa, 0.5), ttfa_p95=_pct(ttfa, 0.95), ttfa_p99=_pct(ttfa, 0.99),
        latency_p50=_pct(lat, 0.5), latency_p95=_pct(lat, 0.95),
        rtf_median=statistics.median(rtfs) if rtfs else None,
        streams_with_underruns=sum(1 for r in good if r.underruns), underrun_events=sum(r.underruns for r in good),
        error_samples=[f"{r.status}: {r.error}" for r in results if not r.ok][:5],
    )


async def run(base_url: str, spec: RunSpec, texts: list[str], voice: str, extra: dict | None = None,
              api_key: str | None = None, on_done: Callable[[StreamResult], None] | None = None) -> RunSummary:
    """One load point: ``spec.requests`` streams at Poisson rate or fixed concurrency."""
    rng = random.Random(spec.seed)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    results: list[StreamResult] = []

    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(600.0), limits=limits,
                                 headers=headers) as client:
        async def one(i: int) -> None:
            r = await stream_one(client, texts[i % len(texts)], voice, extra or {})
            results.append(r)
            if on_done:
                on_done(r)

        start = time.perf_counter()
        if spec.mode == "poisson":
            tasks = []
            for i in range(spec.requests):
                tasks.append(asyncio.create_task(one(i)))
                await asyncio.sleep(rng.expovariate(spec.load))
            await asyncio.gather(*tasks)
        elif spec.mode == "concurrency":
            counter = iter(range(spec.requests))

            async def worker() -> None:
                for i in counter:
                    await one(i)

            await asyncio.gather(*(worker() for _ in range(max(1, int(spec.load)))))
        else:
            raise ValueError(f"unknown mode {spec.mode!r}")
        wall = time.perf_counter() - start
    return summarise(spec, results, wall)


def write_report(summaries: list[RunSummary], out: Path, meta: dict) -> None:
    """JSON with every load point, and a PNG of TTFA and throughput against load (if matplotlib is there)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "runs": [asdict(s) for s in summaries]}, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for mode, marker in (("poisson", "o"), ("concurrency", "s")):
        pts = [s for s in summaries if s.mode == mode]
        if not pts:
            continue
        x = [s.load for s in pts]
        axes[0].plot(x, [1000 * (s.ttfa_p50 or 0) for s in pts], marker=marker, label=f"{mode} p50")
        axes[0].plot(x, [1000 * (s.ttfa_p95 or 0) for s in pts], marker=marker, linestyle="--", label=f"{mode} p95")
        axes[1].plot(x, [s.audio_seconds_per_second for s in pts], marker=marker, label=mode)
    axes[0].set_xlabel("load (req/s or streams)")
    axes[0].set_ylabel("time to first audio (ms)")
    axes[0].legend()
    axes[1].set_xlabel("load (req/s or streams)")
    axes[1].set_ylabel("audio seconds per wall second")
    axes[1].legend()
    fig.suptitle(meta.get("title", "flashtts bench"))
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=100)
