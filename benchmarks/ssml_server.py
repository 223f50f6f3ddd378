"""SSML on a real server (Piper joe voice, loopback): refusal times of hostile documents, break lengths, slow rate.

* every document of ``tests/hostile_ssml.py`` posted to ``/v1/audio/speech``: status, error code and the
  client-measured time to the answer (median of ``--runs``); ``/health`` after them; the server's
  ``requests_total`` before and after (a refusal admits nothing);
* a ``<break time="700ms"/>`` and a ``[pause:0.7s]`` between two sentences, and the same two sentences
  with no break: the longest quiet (-40 dB, 10 ms frames) in the decoded audio, ``--speech`` runs each;
* ``<prosody rate="slow">``: the speech's length (first to last loud frame) over the same text's::

    .venv/bin/python benchmarks/ssml_server.py --runs 15 --speech 8 --out docs/benchmarks/ssml_server
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from hostile_ssml import HOSTILE  # noqa: E402

from tools.live_server import LiveServer  # noqa: E402

ONE = "It's easy to tell the depth of a well."
TWO = "The box was thrown beside the parked truck."


def _loud(samples: np.ndarray, rate: int) -> np.ndarray:
    size = int(rate * 0.01)
    frames = np.abs(samples[: len(samples) // size * size]).reshape(-1, size).max(axis=1)
    return np.flatnonzero(frames > frames.max() * 10 ** (-40 / 20))


def _audio(client: httpx.Client, text: str) -> tuple[np.ndarray, int]:
    r = client.post("/v1/audio/speech", json={"voice": "joe", "input": text, "response_format": "wav",
                                              "stream": False})
    r.raise_for_status()
    samples, rate = sf.read(io.BytesIO(r.content), dtype="float32")
    return samples, rate


def _gap(client: httpx.Client, text: str) -> float:
    loud = _loud(*_audio(client, text))
    return float(np.max(np.diff(loud)) - 1) * 0.01


def _speech(client: httpx.Client, text: str) -> float:
    loud = _loud(*_audio(client, text))
    return float(loud[-1] - loud[0] + 1) * 0.01


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--speech", type=int, default=8, help="syntheses per break/rate figure")
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    args = parser.parse_args()
    refusals = []
    with LiveServer(["--log_level", "warning"], cwd=ROOT) as server, \
            httpx.Client(base_url=server.url, timeout=120) as client:
        before = client.get("/server_info").json()["stats"]["requests_total"]
        for name, (doc, _) in HOSTILE.items():
            body = json.dumps({"voice": "joe", "input": doc})
            times, answers = [], set()
            for _ in range(args.runs):
                start = time.perf_counter()
                r = client.post("/v1/audio/speech", content=body, headers={"content-type": "application/json"})
                times.append((time.perf_counter() - start) * 1000)
                answers.add(f"{r.status_code} {r.json()['error']['code'] if r.status_code >= 400 else ''}")
            refusals.append({"document": name, "chars": len(doc), "answer": ", ".join(sorted(answers)),
                             "median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)})
        health = client.get("/health").status_code
        after = client.get("/server_info").json()["stats"]["requests_total"]
        figures = {
            "break 700ms": [_gap(client, f'<speak>{ONE} <break time="700ms"/> {TWO}</speak>')
                            for _ in range(args.speech)],
            "[pause:0.7s]": [_gap(client, f"{ONE} [pause:0.7s] {TWO}") for _ in range(args.speech)],
            "no break": [_gap(client, f"{ONE} {TWO}") for _ in range(args.speech)],
        }
        normal = [_speech(client, f"{ONE} {TWO}") for _ in range(args.speech)]
        slow = [_speech(client, f'<speak><prosody rate="slow">{ONE} {TWO}</prosody></speak>')
                for _ in range(args.speech)]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    ratio = statistics.median(slow) / statistics.median(normal)
    result = {"machine": machine, "load": load, "refusals": refusals, "health_after": health,
              "requests_admitted_by_refusals": after - before,
              "gaps": {k: [round(g, 3) for g in v] for k, v in figures.items()},
              "speech_seconds": {"normal": normal, "slow": slow}, "slow_ratio": round(ratio, 3)}
    for row in refusals:
        print(f"{row['document']:<40} {row['answer']:<32} median {row['median_ms']:7.2f} ms  max {row['max_ms']:7.2f}")
    for k, v in figures.items():
        print(f"{k:<14} gap median {statistics.median(v):.3f} s  min {min(v):.3f}  max {max(v):.3f}")
    print(f"slow/normal speech length {ratio:.3f} (documented 1/0.64 = 1.5625); health {health}; "
          f"requests admitted by the refusals {after - before}; load {load}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{args.out}.json").write_text(json.dumps(result, indent=1) + "\n", "utf-8")
        lines = [
            "# SSML on a real server: hostile refusals, break lengths, slow rate",
            "",
            f"`.venv/bin/python benchmarks/ssml_server.py --runs {args.runs} --speech {args.speech} --out {args.out}`",
            "",
            f"Machine: {machine}; Piper joe voice, `flashtts serve` on loopback, client-measured times. Load "
            f"average at the end {load} (2 cores shared with other work: times are noisy).",
            "",
            f"## Hostile documents ({args.runs} posts each)",
            "",
            "| document | characters | answer | median | max |",
            "|---|---|---|---|---|",
            *(f"| {r['document']} | {r['chars']:,} | {r['answer']} | {r['median_ms']:.2f} ms | {r['max_ms']:.2f} ms |"
              for r in refusals),
            "",
            f"`/health` after them: {health}. Requests admitted (synthesis started) by all the refusals: "
            f"{after - before}.",
            "",
            f"## Pause between two sentences ({args.speech} syntheses each; asked 0.700 s, acceptance ±0.040 s)",
            "",
            "| input | median | min | max |",
            "|---|---|---|---|",
            *(f"| {k} | {statistics.median(v):.3f} s | {min(v):.3f} s | {max(v):.3f} s |" for k, v in figures.items()),
            "",
            f"## `<prosody rate=\"slow\">` ({args.speech} syntheses each)",
            "",
            f"Speech length (first to last loud frame): median {statistics.median(normal):.3f} s as written, "
            f"{statistics.median(slow):.3f} s slow: ratio {ratio:.3f} (documented 1/0.64 = 1.5625, acceptance ±10%).",
            "",
        ]
        Path(f"{args.out}.md").write_text("\n".join(lines), "utf-8")


if __name__ == "__main__":
    main()
