"""``--idle_unload``: resident memory of a server whose engine is unloaded when idle and reloaded on demand.

For each engine a server is started with ``--idle_unload 2``; the script reads ``/server_info``
(``rss_mib``, ``rss_before_load_mib``, ``model_loaded``) right after start
(loaded), once the engine was unloaded, then ``--cycles`` times: one request (it waits for the
reload), resident memory loaded, and again once unloaded. Printed and written to
``docs/benchmarks/idle_unload.{json,md}``.

    .venv/bin/python benchmarks/idle_unload.py                         # Piper
    .venv/bin/python benchmarks/idle_unload.py --qwen /tmp/qwen-tiny --qwen /tmp/qwen-06b

A Qwen3 checkpoint comes from ``flashtts dev make-checkpoint DIR [--size 0.6b]`` (random weights);
it runs on the CPU in bfloat16 with ``--engine_opt fixed_frames=4`` (a short answer whatever the weights).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import ROOT, Server  # noqa: E402


def _info(url: str) -> dict:
    return httpx.get(url + "/server_info", timeout=120).json()


def _unloaded(url: str, limit: float = 300) -> dict:
    deadline = time.monotonic() + limit
    while _info(url)["model_loaded"]:
        if time.monotonic() > deadline:
            raise SystemExit("the engine was not unloaded")
        time.sleep(0.2)
    time.sleep(1.0)  # a second for the figure to settle
    return _info(url)


def measure(label: str, args: list[str], cycles: int) -> dict:
    with Server(*args, "--idle_unload", "2", log_path=None) as server:
        url = server.url
        start = _info(url)
        voice = start["default_voice"]
        first = _unloaded(url)
        rows = []
        for _ in range(cycles):
            sent = time.monotonic()
            r = httpx.post(url + "/v1/audio/speech", timeout=600, json={
                "input": "The birch canoe slid on the smooth planks.", "voice": voice, "response_format": "wav"})
            seconds = time.monotonic() - sent
            loaded = _info(url)
            after = _unloaded(url)
            rows.append({"status": r.status_code, "request_seconds": round(seconds, 2),
                         "loaded_mib": loaded["rss_mib"], "unloaded_mib": after["rss_mib"]})
        stats = _info(url)["stats"]
    before = start["rss_before_load_mib"]
    unloaded = first["rss_mib"]
    return {
        "engine": label, "args": args, "before_first_load_mib": before,
        "loaded_at_start_mib": start["rss_mib"], "first_unloaded_mib": unloaded, "cycles": rows,
        "last_unloaded_over_first_unloaded": round(rows[-1]["unloaded_mib"] / unloaded, 3),
        "last_unloaded_over_before_first_load": round(rows[-1]["unloaded_mib"] / before, 3),
        "reloads": stats["model_reloads_total"],
        "reload_wait_seconds_total": round(stats["model_reload_wait_seconds_total"], 2),
        "all_ok": all(row["status"] == 200 for row in rows),
    }


def write_report(results: list[dict], out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "idle_unload.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Idle unload: resident memory", "", f"`{command}` on {os.cpu_count()} CPUs (a shared machine: "
             "other work ran beside it). Resident memory (MiB) from `/server_info`; each request waits for the "
             "reload.", "",
             "| engine | before first load | loaded at start | unloaded | per cycle: request s, loaded, unloaded | "
             "last unloaded / first unloaded | last unloaded / before first load |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        cycles = "; ".join(f"{c['request_seconds']} s, {c['loaded_mib']}, {c['unloaded_mib']}" for c in r["cycles"])
        lines.append(f"| {r['engine']} | {r['before_first_load_mib']} | {r['loaded_at_start_mib']} | "
                     f"{r['first_unloaded_mib']} | {cycles} | {r['last_unloaded_over_first_unloaded']} | "
                     f"{r['last_unloaded_over_before_first_load']} |")
    lines += ["", "Reproduce: the command above. Every figure is in `idle_unload.json`.", ""]
    (out / "idle_unload.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qwen", action="append", default=[], help="a Qwen3 checkpoint directory (repeatable)")
    ap.add_argument("--no-piper", action="store_true")
    ap.add_argument("--qwen_dtype", default="bfloat16", help="--dtype of the Qwen3 servers")
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = ap.parse_args()
    results = []
    if not args.no_piper:
        results.append(measure("piper (joe)", [], args.cycles))
    for path in args.qwen:
        qwen = ["--engine", "qwen3", "--model_path", path, "--device", "cpu", "--dtype", args.qwen_dtype,
                "--engine_opt", "fixed_frames=4"]
        results.append(measure(f"qwen3 {Path(path).name}", qwen, args.cycles))
    command = "python benchmarks/idle_unload.py " + " ".join(sys.argv[1:])
    results.append({"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}})
    write_report(results[:-1], args.out, command.strip())
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
