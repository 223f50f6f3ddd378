"""Overload: drive a server at several times its configured capacity and check it sheds cleanly.

Capacity is ``--queue_limit`` (requests admitted at once). The script

1. measures the unloaded latency of one short complete-file request (median of ``--probes``),
2. runs ``factor x queue_limit`` closed-loop clients for ``--duration`` seconds; a client that
   gets a 429 waits ``--backoff`` seconds (not the Retry-After it was given, so the pressure
   stays at the full factor) and tries again,
3. measures the unloaded latency again and reports after/before as a ratio.

Pass: every answer was 200 or 429, every 429 carried a Retry-After, and nothing else (no 5xx, no
connection error, no timeout). Loopback only; bounded in time (duration + probes) and requests.

    .venv/bin/python benchmarks/overload.py                    # starts its own server
    .venv/bin/python benchmarks/overload.py --url http://127.0.0.1:8000 --queue_limit 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import ROOT, Server, require_loopback  # noqa: E402

TEXT = "The birch canoe slid on the smooth planks."
BODY = {"input": TEXT, "voice": "alloy", "response_format": "pcm", "stream": False}


async def probe(client: httpx.AsyncClient, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        resp = await client.post("/v1/audio/speech", json=BODY)
        resp.raise_for_status()
        times.append(time.perf_counter() - t0)
    return times


async def load(client: httpx.AsyncClient, clients: int, duration: float, backoff: float, max_requests: int) -> dict:
    statuses: Counter[str] = Counter()
    retry_after: Counter[str] = Counter()
    missing_retry_after = 0
    ok_latency: list[float] = []
    errors: list[str] = []
    sent = 0
    end = time.monotonic() + duration

    async def one_client() -> None:
        nonlocal missing_retry_after, sent
        while time.monotonic() < end and sent < max_requests:
            sent += 1
            t0 = time.perf_counter()
            try:
                resp = await client.post("/v1/audio/speech", json=BODY)
            except httpx.HTTPError as exc:
                statuses["error"] += 1
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                await asyncio.sleep(backoff)
                continue
            statuses[str(resp.status_code)] += 1
            if resp.status_code == 200:
                ok_latency.append(time.perf_counter() - t0)
            elif resp.status_code == 429:
                value = resp.headers.get("retry-after")
                if value is None or not value.isdigit():
                    missing_retry_after += 1
                else:
                    retry_after[value] += 1
                await asyncio.sleep(backoff)
            else:
                errors.append(f"{resp.status_code}: {resp.text[:200]}")

    t0 = time.monotonic()
    await asyncio.gather(*[one_client() for _ in range(clients)])
    elapsed = time.monotonic() - t0
    ok_latency.sort()
    return {
        "clients": clients, "seconds": round(elapsed, 1), "requests": sum(statuses.values()),
        "statuses": dict(statuses), "retry_after_values": dict(retry_after),
        "missing_retry_after": missing_retry_after, "errors": errors[:20],
        "ok_per_second": round(statuses["200"] / elapsed, 2) if elapsed else 0.0,
        "ok_latency_median": round(statistics.median(ok_latency), 3) if ok_latency else None,
        "ok_latency_p95": round(ok_latency[int(0.95 * (len(ok_latency) - 1))], 3) if ok_latency else None,
    }


async def run(url: str, queue_limit: int, factor: int, duration: float, probes: int, backoff: float) -> dict:
    limits = httpx.Limits(max_connections=factor * queue_limit + 8, max_keepalive_connections=factor * queue_limit + 8)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await probe(client, 2)  # warm-up
        before = await probe(client, probes)
        loaded = await load(client, factor * queue_limit, duration, backoff, max_requests=200_000)
        for _ in range(600):  # let the last admitted requests drain (bounded: 60 s)
            if (await client.get("/server_info")).json()["stats"]["active_requests"] == 0:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        after = await probe(client, probes)
        info = (await client.get("/server_info")).json()
    b, a = statistics.median(before), statistics.median(after)
    other = {k: v for k, v in loaded["statuses"].items() if k not in ("200", "429")}
    return {
        "url": url, "queue_limit": queue_limit, "factor": factor, "duration_s": duration,
        "unloaded_latency_before_s": round(b, 4), "unloaded_latency_after_s": round(a, 4),
        "latency_ratio_after_over_before": round(a / b, 3),
        "load": loaded,
        "passed": bool(loaded["statuses"].get("429")) and not other and loaded["missing_retry_after"] == 0,
        "server_stats": {k: info["stats"].get(k) for k in ("requests_total", "requests_rejected_total",
                                                          "requests_failed_total", "max_batch_size")},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_1m_at_end": round(os.getloadavg()[0], 2)},
    }


def write_report(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "overload.json").write_text(json.dumps(result, indent=2) + "\n")
    ld = result["load"]
    lines = [
        "# Overload",
        "",
        f"`benchmarks/overload.py`: {ld['clients']} closed-loop clients ({result['factor']}x the configured "
        f"capacity, `--queue_limit {result['queue_limit']}`) for {result['duration_s']:g} s against a Piper server "
        f"on loopback ({result['machine']['cpus']} CPUs; 1-minute load average at the end "
        f"{result['machine']['load_average_1m_at_end']}, other work included). Each client sends a short complete-file "
        "`/v1/audio/speech` request; after a 429 it waits 50 ms and sends again.",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| requests sent | {ld['requests']} |",
        f"| answers by status | {', '.join(f'{k}: {v}' for k, v in sorted(ld['statuses'].items()))} |",
        f"| 429s without a Retry-After | {ld['missing_retry_after']} |",
        f"| Retry-After values given | {', '.join(f'{k} s: {v}' for k, v in sorted(ld['retry_after_values'].items()))} |",
        f"| other errors | {len(ld['errors'])} |",
        f"| served under load | {ld['ok_per_second']} requests/s, median {ld['ok_latency_median']} s, "
        f"p95 {ld['ok_latency_p95']} s |",
        f"| unloaded latency before | {result['unloaded_latency_before_s']} s |",
        f"| unloaded latency after | {result['unloaded_latency_after_s']} s |",
        f"| **latency ratio after/before** | **{result['latency_ratio_after_over_before']}** |",
        f"| passed (only 200/429, every 429 with Retry-After) | {result['passed']} |",
        "",
        "Reproduce: `.venv/bin/python benchmarks/overload.py` (starts its own server on 127.0.0.1; "
        "`--url` targets a running one, loopback only). Raw figures: `overload.json`.",
        "",
    ]
    (out / "overload.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server on loopback (default: start one)")
    ap.add_argument("--queue_limit", type=int, default=4, help="the server's --queue_limit (capacity)")
    ap.add_argument("--factor", type=int, default=4, help="clients = factor x queue_limit")
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--probes", type=int, default=20, help="unloaded requests before and after")
    ap.add_argument("--backoff", type=float, default=0.05, help="seconds a client waits after a 429")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = ap.parse_args()

    def go(url: str) -> dict:
        require_loopback(url)
        return asyncio.run(run(url, args.queue_limit, args.factor, args.duration, args.probes, args.backoff))

    if args.url:
        result = go(args.url)
    else:
        with Server("--queue_limit", str(args.queue_limit)) as server:
            result = go(server.url)
    write_report(result, args.out)
    print(json.dumps({k: result[k] for k in ("passed", "latency_ratio_after_over_before")} | {
        "statuses": result["load"]["statuses"]}, indent=2))
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
