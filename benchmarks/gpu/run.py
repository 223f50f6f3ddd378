"""The GPU run, end to end, in one process tree: checkpoint -> server -> ``flashtts bench`` -> baselines -> summary.

    python benchmarks/gpu/run.py --out DIR [--device cuda|cpu] [--size 1.7b|tiny] [--rehearsal]

1. builds a random-weight CustomVoice checkpoint on the device (end-of-speech row zeroed, so every
   system generates the same fixed number of frames) with ``flashtts dev make-checkpoint``;
2. serves it with ``flashtts serve --engine qwen3 --backend static --device DEV`` (every request
   ``fixed_frames`` long) and runs ``flashtts bench``: one stream (first audio p50/p95, real-time
   factor), Poisson arrivals (p95 first audio, underruns), closed loop (audio-s/s, underruns);
3. runs the reference ``qwen_tts`` generate and faster-qwen3-tts (CUDA only) at one stream on the
   same checkpoint (``baselines.py``);
4. writes ``summary.json`` and ``summary.png`` beside the bench JSON/PNG files in ``--out``.

``--rehearsal`` shrinks every load point (CPU, tiny checkpoint: proves the script, not the speed).
``benchmarks/gpu/run.sh`` wraps this with the GPU machine's setup (carried wheels, no network).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

# load points: (full run, rehearsal)
ONE_STREAM = (20, 2)  # requests at concurrency 1
RATES = ((10.0, 20.0, 40.0), (2.0,))
RATE_REQUESTS = (200, 3)
CONCURRENCY = ((32, 64, 128), (2,))
CLOSED_REQUESTS = (384, 4)
FRAMES = (58, 6)  # 4.6 s of audio per request, as the baselines in ../shared/tools/gpu


def log(msg: str, t0: float) -> None:
    print(f"[{time.monotonic() - t0:7.1f} s] {msg}", flush=True)


def flashtts(*args: str, timeout: float, out: Path | None = None) -> None:
    """``python -m flashtts ARGS`` (output to the console, or appended to ``out``)."""
    cmd = [sys.executable, "-m", "flashtts", *args]
    print("$", " ".join(cmd), flush=True)
    if out is None:
        subprocess.run(cmd, check=True, timeout=timeout)
    else:
        with open(out, "ab") as f:
            subprocess.run(cmd, check=True, timeout=timeout, stdout=f, stderr=subprocess.STDOUT)


def build_checkpoint(path: Path, size: str, device: str, tokenizer: str | None) -> None:
    if (path / "config.json").is_file():
        return
    args = ["dev", "make-checkpoint", str(path), "--size", size, "--device", device, "--no-eos",
            "--dtype", "bfloat16" if device.startswith("cuda") else "float32"]
    if tokenizer:
        args += ["--tokenizer", tokenizer]
    flashtts(*args, timeout=300)


def serve_and_bench(ckpt: Path, out: Path, a: argparse.Namespace, t0: float) -> list[str]:
    """The server and the three ``flashtts bench`` runs; returns the JSON files written."""
    from flashtts.live_server import LiveServer

    r = 1 if a.rehearsal else 0
    frames = FRAMES[r]
    batch = max(CONCURRENCY[r])
    args = ["--engine", "qwen3", "--model_path", str(ckpt), "--backend", a.backend, "--device", a.device,
            "--batch_size", str(batch), "--queue_limit", str(4 * batch), "--wait_timeout", "0",
            "--engine_opt", f"fixed_frames={frames}", "--engine_opt", f"max_len={a.max_len}",
            "--engine_opt", "first_chunk_frames=1", "--engine_opt", "chunk_frames=4"]
    for opt in a.engine_opt:
        args += ["--engine_opt", opt]
    written = []
    started = time.monotonic()
    with LiveServer(args, log_path=out / "server.log") as server:
        log(f"server ready in {time.monotonic() - started:.1f} s (warm-up included: see server.log)", t0)
        common = ["bench", "--url", server.url, "--voice", "ryan", "--title"]
        runs = [("one_stream", ["--concurrency", "1", "--requests", str(ONE_STREAM[r])]),
                ("poisson", [x for rate in RATES[r] for x in ("--rate", str(rate))]
                 + ["--requests", str(RATE_REQUESTS[r])]),
                ("closed_loop", [x for c in CONCURRENCY[r] for x in ("--concurrency", str(c))]
                 + ["--requests", str(CLOSED_REQUESTS[r])])]
        for name, extra in runs:
            target = out / f"{name}.json"
            flashtts(*common, f"flashtts {a.backend} {a.size} {a.device}: {name}", *extra, "--out", str(target),
                     timeout=a.bench_timeout)
            written.append(str(target))
            log(f"bench {name} done", t0)
    return written


def baselines(ckpt: Path, out: Path, a: argparse.Namespace) -> Path:
    target = out / "baselines.json"
    frames = FRAMES[1 if a.rehearsal else 0]
    cmd = [sys.executable, str(HERE / "baselines.py"), str(ckpt), str(target), "--device", a.device,
           "--frames", str(frames), "--repeats", "1" if a.rehearsal else "3"]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=False, timeout=a.bench_timeout)
    return target


def summarise(out: Path, files: list[str], base: Path, meta: dict) -> dict:
    """One JSON (and a PNG) of the figures the issue's targets name."""
    summary: dict = {"meta": meta, "flashtts": {}, "baselines": {}}
    for f in files:
        data = json.loads(Path(f).read_text())
        summary["flashtts"][Path(f).stem] = data.get("runs", data)
    if base.is_file():
        summary["baselines"] = json.loads(base.read_text())
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    try:
        _plot(summary, out / "summary.png")
    except Exception as exc:  # noqa: BLE001 - a missing plotting library costs the picture only
        print(f"no summary.png: {exc}", flush=True)
    return summary


def _plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, rtf = [], []
    for name, runs in summary["flashtts"].items():
        for run in runs if isinstance(runs, list) else []:
            label = f"{name} {run.get('mode', '')} {run.get('load', '')}".strip()
            names.append(label)
            rtf.append(float(run.get("audio_seconds_per_second") or 0.0))
    for name, b in summary["baselines"].get("systems", {}).items():
        names.append(name)
        rtf.append(float(b.get("audio_s_per_wall_s") or 0.0))
    fig, ax = plt.subplots(figsize=(10, 0.4 * len(names) + 1.5))
    ax.barh(names, rtf)
    ax.set_xlabel("audio seconds per wall second")
    ax.set_title(summary["meta"].get("title", "GPU run"))
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--size", default="1.7b", choices=["tiny", "0.6b", "1.7b"])
    p.add_argument("--backend", default="static")
    p.add_argument("--checkpoint", type=Path, default=None, help="reuse / build here (default: OUT/checkpoint)")
    p.add_argument("--tokenizer", default=None, help="qwen.tiktoken for full sizes (default: dashscope's)")
    p.add_argument("--max_len", type=int, default=1024)
    p.add_argument("--engine_opt", action="append", default=[])
    p.add_argument("--rehearsal", action="store_true", help="tiny load points (CPU rehearsal of the script)")
    p.add_argument("--bench_timeout", type=float, default=240)
    a = p.parse_args()
    t0 = time.monotonic()
    a.out.mkdir(parents=True, exist_ok=True)
    ckpt = a.checkpoint or a.out / "checkpoint"
    build_checkpoint(ckpt, a.size, a.device, a.tokenizer)
    log(f"checkpoint {a.size} ready at {ckpt}", t0)
    files = serve_and_bench(ckpt, a.out, a, t0)
    base = baselines(ckpt, a.out, a)
    log("baselines done", t0)
    meta = {"title": f"flashtts --backend {a.backend}, Qwen3-TTS {a.size} CustomVoice (random weights), {a.device}",
            "device": a.device, "size": a.size, "backend": a.backend, "rehearsal": a.rehearsal,
            "frames_per_request": FRAMES[1 if a.rehearsal else 0], "python": sys.version.split()[0],
            "command": " ".join(sys.argv), "seconds": round(time.monotonic() - t0, 1),
            "env": {k: v for k, v in os.environ.items() if k in ("CUDA_VISIBLE_DEVICES",)}}
    try:
        import torch

        meta["torch"] = torch.__version__
        if a.device.startswith("cuda"):
            meta["gpu"] = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001
        pass
    summarise(a.out, files, base, meta)
    log(f"summary written to {a.out / 'summary.json'}", t0)


if __name__ == "__main__":
    main()
