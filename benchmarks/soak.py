"""Soak: a steady mixed load for ``--duration`` seconds (default 11 minutes) below capacity.

Clients loop over the routes people use — complete files, audio streams, SSE, FlashTTS /speak,
role add/delete, /server_info — and every answer must succeed. The server's resident memory is
sampled every ``--sample`` seconds; after a warm-up (``--warmup``) it must stay within 10% of its
post-warm-up baseline (the median of the first minute after warm-up).

    .venv/bin/python benchmarks/soak.py                 # starts its own server on 127.0.0.1
    .venv/bin/python benchmarks/soak.py --duration 120  # a short check

Loopback only; bounded by ``--duration`` (and a request cap).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import ROOT, Server, require_loopback  # noqa: E402

TEXTS = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background. It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls, and the juice of lemons makes fine punch.",
]


async def one_request(client: httpx.AsyncClient, kind: str, text: str, n: int) -> str | None:
    """Run one request of ``kind``; None when it succeeded, else what went wrong."""
    if kind == "complete":
        r = await client.post("/v1/audio/speech", json={"input": text, "voice": "alloy", "stream": False})
        return None if r.status_code == 200 and len(r.content) > 1000 else f"complete {r.status_code}"
    if kind == "stream":
        got = 0
        async with client.stream("POST", "/v1/audio/speech",
                                 json={"input": text, "voice": "joe", "response_format": "pcm"}) as r:
            async for part in r.aiter_raw():
                got += len(part)
        return None if r.status_code == 200 and got > 10000 else f"stream {r.status_code}"
    if kind == "sse":
        r = await client.post("/v1/audio/speech", json={"input": text, "voice": "joe", "stream_format": "sse",
                                                        "response_format": "pcm"})
        return None if r.status_code == 200 and '"speech.audio.done"' in r.text else f"sse {r.status_code}"
    if kind == "speak":
        r = await client.post("/speak", json={"name": "narrator", "text": text, "stream": False})
        return None if r.status_code == 200 else f"speak {r.status_code}"
    if kind == "roles":
        name = f"soak-{n}"
        r = await client.post("/add_speaker", data={"name": name, "voice": "joe", "speed": "1.1"})
        if r.status_code != 200:
            return f"add_speaker {r.status_code}"
        r = await client.post("/speak", json={"name": name, "text": "Soaking.", "stream": False,
                                              "response_format": "wav"})
        if r.status_code != 200:
            return f"speak role {r.status_code}"
        r = await client.post("/delete_speaker", data={"name": name})
        return None if r.status_code == 200 else f"delete_speaker {r.status_code}"
    r = await client.get("/server_info")
    return None if r.status_code == 200 else f"server_info {r.status_code}"


async def soak(url: str, pid: int | None, duration: float, clients: int, sample: float, warmup: float) -> dict:
    kinds = ["complete", "stream", "sse", "speak", "complete", "stream", "roles", "info"]
    counter = itertools.count()
    done: Counter[str] = Counter()
    errors: list[str] = []
    rss: list[tuple[float, int]] = []
    proc = psutil.Process(pid) if pid else None
    t0 = time.monotonic()
    end = t0 + duration

    async def client_loop(client: httpx.AsyncClient, offset: int) -> None:
        for i in itertools.count(offset):
            if time.monotonic() >= end or sum(done.values()) > 200_000:
                return
            n = next(counter)
            kind, text = kinds[i % len(kinds)], TEXTS[n % len(TEXTS)]
            try:
                problem = await one_request(client, kind, text, n)
            except httpx.HTTPError as exc:
                problem = f"{kind} {type(exc).__name__}: {exc}"[:200]
            done[kind] += 1
            if problem:
                errors.append(f"{time.monotonic() - t0:.0f}s {problem}")

    async def sampler() -> None:
        while time.monotonic() < end:
            if proc is not None:
                rss.append((round(time.monotonic() - t0, 1), proc.memory_info().rss))
            await asyncio.sleep(sample)

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await asyncio.gather(sampler(), *[client_loop(client, k * 3) for k in range(clients)])
        info = (await client.get("/server_info")).json()

    result: dict = {"url": url, "duration_s": duration, "clients": clients, "requests": dict(done),
                    "requests_total": sum(done.values()), "errors": len(errors), "error_samples": errors[:20],
                    "server_stats": {k: info["stats"].get(k) for k in (
                        "requests_total", "requests_failed_total", "requests_rejected_total",
                        "audio_seconds_total", "max_batch_size")}}
    if rss:
        after = [(t, v) for t, v in rss if t >= warmup]
        baseline = statistics.median(v for t, v in after if t < warmup + 60)
        last = statistics.median(v for t, v in after if t >= duration - 120)
        peak = max(v for _, v in after)
        result["rss"] = {
            "warmup_s": warmup, "baseline_mib": round(baseline / 2**20, 1), "final_mib": round(last / 2**20, 1),
            "peak_after_warmup_mib": round(peak / 2**20, 1),
            "final_over_baseline": round(last / baseline, 3), "peak_over_baseline": round(peak / baseline, 3),
            "samples_mib": [(t, round(v / 2**20, 1)) for t, v in rss],
        }
        result["rss_flat_within_10pct"] = peak <= 1.10 * baseline and last <= 1.10 * baseline
    result["passed"] = result["errors"] == 0 and result.get("rss_flat_within_10pct", True)
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    return result


def write_report(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    r = result.get("rss", {})
    lines = [
        "# Soak",
        "",
        f"`benchmarks/soak.py`: {result['clients']} clients for {result['duration_s'] / 60:.1f} minutes against a "
        f"Piper server on loopback ({result['machine']['cpus']} CPUs), cycling complete files, audio streams, SSE, "
        "`/speak`, role add/speak/delete and `/server_info`.",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| requests | {result['requests_total']} ({', '.join(f'{k}: {v}' for k, v in sorted(result['requests'].items()))}) |",
        f"| errors | **{result['errors']}** |",
        f"| audio produced | {result['server_stats'].get('audio_seconds_total', 0):.0f} s |",
        f"| resident memory after {r.get('warmup_s', 0):g} s warm-up (baseline) | {r.get('baseline_mib')} MiB |",
        f"| resident memory, last 2 minutes (median) | {r.get('final_mib')} MiB ({r.get('final_over_baseline')}x) |",
        f"| peak after warm-up | {r.get('peak_after_warmup_mib')} MiB ({r.get('peak_over_baseline')}x) |",
        f"| flat within 10% | {result.get('rss_flat_within_10pct')} |",
        f"| passed | {result['passed']} |",
        "",
        "Reproduce: `.venv/bin/python benchmarks/soak.py` (starts its own server on 127.0.0.1). Every RSS sample "
        "is in `soak.json`.",
        "",
    ]
    (out / "soak.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server on loopback (RSS is then sampled from --pid)")
    ap.add_argument("--pid", type=int, help="server process id when --url is given")
    ap.add_argument("--duration", type=float, default=660.0)
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    ap.add_argument("--warmup", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = ap.parse_args()

    def go(url: str, pid: int | None) -> dict:
        require_loopback(url)
        return asyncio.run(soak(url, pid, args.duration, args.clients, args.sample, args.warmup))

    if args.url:
        result = go(args.url, args.pid)
    else:
        with Server() as server:
            result = go(server.url, server.proc.pid)
    write_report(result, args.out)
    print(json.dumps({k: result[k] for k in ("passed", "errors", "requests_total")} | {
        "rss": {k: v for k, v in result.get("rss", {}).items() if k != "samples_mib"}}, indent=2))
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
