"""CPU: the Qwen3 decode step side by side: today's eager torch loop, the static step eager, the static step compiled.

For each checkpoint size and batch size, every decode loop runs the same greedy streams for
``--frames`` frames (end-of-speech ignored) on the same loaded checkpoint in one process and
reports: milliseconds per step (median after warm-up), audio seconds generated per wall second
(``rows x 0.08 s / step``; the codec decoder is not included), and ATen operations dispatched per
step (what a GPU would launch one by one in eager mode; the host overhead a CUDA graph removes).
Compile time of the compiled step is reported separately (first call of each bucket).

    python benchmarks/qwen3_static_step_cpu.py --sizes tiny,0.6b --batches 1,8 \
        [--modes torch,static,static-compiled] [--out docs/benchmarks/qwen3_static_step_cpu.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from flashtts_engines.qwen3.checkpoint import make_checkpoint
from flashtts_engines.qwen3.model import Qwen3Runner
from flashtts_engines.qwen3.sampling import Sampling
from flashtts_engines.qwen3.static_step import StaticDecode
from flashtts_engines.qwen3.torch_decode import TorchDecode

TEXT = "The quick brown fox jumps over the lazy dog while the farmer watches from his porch."
FRAME_S = 0.08


class CountOps(TorchDispatchMode):
    """Counts ATen operations dispatched (kernel launches in eager mode)."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))


def make_loop(mode: str, runner: Qwen3Runner, rows: int, backend: str):
    if mode == "torch":
        return TorchDecode(runner, rows)
    opts = {"compile": "1", "compile_backend": backend} if mode == "static-compiled" else {}
    return StaticDecode(runner, rows, opts)


def run(mode: str, runner: Qwen3Runner, rows: int, frames: int, backend: str) -> dict:
    loop = make_loop(mode, runner, rows, backend)
    prompt = runner.build_prompt(TEXT, speaker="ryan", language="english")
    sampling = Sampling.greedy(frames + 4, ignore_eos=True)
    streams = [runner.new_stream(f"s{i}", prompt, sampling, 4, 12) for i in range(rows)]
    with torch.no_grad():
        loop.prefill(streams)
        t0 = time.perf_counter()
        loop.step(streams)  # first step: compiles the bucket when compiled
        first = time.perf_counter() - t0
        loop.step(streams)
        times, cpu = [], []
        for _ in range(frames):
            t0, c0 = time.perf_counter(), time.process_time()
            loop.step(streams)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        counter = CountOps()
        if mode != "static-compiled":
            with counter:
                loop.step(streams)
    step = statistics.median(times)
    return dict(mode=mode, batch=rows, step_ms=round(step * 1000, 2), first_step_s=round(first, 1),
                step_cpu_ms=round(statistics.median(cpu) * 1000, 2),
                audio_s_per_s=round(rows * FRAME_S / step, 2), ops_per_step=counter.n or None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="tiny,0.6b")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--modes", default="torch,static,static-compiled")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--compile_backend", default="inductor")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    results = []
    tmp = Path(tempfile.mkdtemp(prefix="qwen3-static-bench-"))
    for size in a.sizes.split(","):
        ckpt = make_checkpoint("custom_voice", size, tmp / size, seed=0)
        runner = Qwen3Runner(str(ckpt), threads=a.threads)
        for rows in [int(b) for b in a.batches.split(",")]:
            for mode in a.modes.split(","):
                r = {"size": size, **run(mode, runner, rows, a.frames, a.compile_backend)}
                results.append(r)
                print(json.dumps(r), flush=True)
        del runner
    meta = dict(command="python " + " ".join(sys.argv), torch=torch.__version__, threads=a.threads,
                machine=f"{platform.machine()}, {__import__('os').cpu_count()} cores", frames=a.frames,
                compile_backend=a.compile_backend)
    if a.out:
        a.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
        lines = ["| size | decode loop | batch | ms per step | audio s per s | ATen ops per step | first step s |",
                 "|---|---|---|---|---|---|---|"]
        for r in results:
            lines.append(f"| {r['size']} | {r['mode']} | {r['batch']} | {r['step_ms']} | {r['audio_s_per_s']} | "
                         f"{r['ops_per_step'] or '(compiled)'} | {r['first_step_s']} |")
        a.out.write_text("\n".join(lines) + "\n")
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
