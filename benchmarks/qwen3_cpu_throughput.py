"""CPU throughput of the Qwen3 engine on a tiny random-weight checkpoint: batched vs one at a time.

Both runs use the same engine code, checkpoint and requests in one process, side by side:

* sequential: ``batch_size=1``, the N requests one after another;
* batched: ``batch_size=N``, the N requests submitted at once (continuous batching).

Every request generates exactly ``--frames`` codec frames (engine option ``fixed_frames``; random
weights stop at random points otherwise). Optionally (``--reference K``) the reference package's
``generate_custom_voice`` runs K requests one at a time on the same checkpoint, for context.

    python benchmarks/qwen3_cpu_throughput.py [--requests 8] [--frames 48] \
        [--out docs/benchmarks/qwen3_cpu_throughput.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEXTS = [
    "Hello world. This is a tiny test of the text to speech server.",
    "The quick brown fox jumps over the lazy dog.",
    "She said she would be here by noon.",
    "Speak in an incredulous tone, but with a hint of panic.",
]


async def run_engine(ckpt: Path, n: int, frames: int, batch_size: int, concurrent: bool, threads: int) -> dict:
    from flashtts.engine import EngineConfig, GenerationOptions, SynthesisRequest
    from flashtts.metrics import Metrics
    from flashtts_engines.qwen3 import Qwen3Engine

    cfg = EngineConfig(model_path=str(ckpt), device="cpu", dtype="float32", batch_size=batch_size,
                       wait_timeout=0.02, extra={"fixed_frames": str(frames), "threads": str(threads)})
    metrics = Metrics()
    engine = Qwen3Engine(cfg, metrics)
    await engine.start()
    try:
        # warm-up (first calls allocate caches and JIT-free paths)
        warm = SynthesisRequest(request_id="warm", text=TEXTS[0], voice="ryan", options=GenerationOptions(seed=0))
        async for _ in engine.synthesize(warm):
            pass
        reqs = [SynthesisRequest(request_id=f"r{i}", text=TEXTS[i % len(TEXTS)], voice="ryan", stream=True,
                                 options=GenerationOptions(seed=i)) for i in range(n)]
        ttfa: list[float] = []
        samples = 0
        before = metrics.snapshot()

        async def one(req):
            nonlocal samples
            t0 = time.perf_counter()
            first = True
            async for chunk in engine.synthesize(req):
                if first:
                    ttfa.append(time.perf_counter() - t0)
                    first = False
                samples += len(chunk)

        t0 = time.perf_counter()
        if concurrent:
            await asyncio.gather(*(one(r) for r in reqs))
        else:
            for r in reqs:
                await one(r)
        wall = time.perf_counter() - t0
        audio = samples / engine.info.sample_rate
        snap = metrics.snapshot()
        steps = snap["batches_total"] - before["batches_total"]
        items = snap["batch_items_total"] - before["batch_items_total"]
        return {"wall_s": wall, "audio_s": audio, "rtf_x": audio / wall, "ttfa_mean_s": sum(ttfa) / len(ttfa),
                "ttfa_max_s": max(ttfa), "mean_batch": items / steps, "steps": steps}
    finally:
        await engine.stop()


def run_reference(ckpt: Path, k: int, frames: int, threads: int) -> dict:
    import torch

    from flashtts_engines.qwen3._compat import import_qwen_tts

    torch.set_num_threads(threads)
    model = import_qwen_tts().Qwen3TTSModel.from_pretrained(str(ckpt))
    model.generate_custom_voice(TEXTS[0], speaker="ryan", max_new_tokens=4)  # warm-up
    t0 = time.perf_counter()
    audio = 0.0
    for i in range(k):
        wavs, sr = model.generate_custom_voice(TEXTS[i % len(TEXTS)], speaker="ryan", max_new_tokens=frames + 1)
        audio += len(wavs[0]) / sr
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "audio_s": audio, "rtf_x": audio / wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=8)
    p.add_argument("--frames", type=int, default=48, help="codec frames per request (80 ms each)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--reference", type=int, default=2, help="reference generate_custom_voice requests (0: skip)")
    p.add_argument("--checkpoint", type=Path, default=None, help="existing checkpoint (default: build a tiny one)")
    p.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    a = p.parse_args()

    from flashtts_engines.qwen3.checkpoint import make_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = a.checkpoint or make_checkpoint("custom_voice", "tiny", Path(tmp) / "cv", seed=0)
        seq = asyncio.run(run_engine(ckpt, a.requests, a.frames, 1, False, a.threads))
        bat = asyncio.run(run_engine(ckpt, a.requests, a.frames, a.requests, True, a.threads))
        ref = run_reference(ckpt, a.reference, a.frames, a.threads) if a.reference else None

    ratio = bat["rtf_x"] / seq["rtf_x"]
    import torch

    lines = [
        "# Qwen3 engine: CPU throughput, batched vs one at a time",
        "",
        f"Tiny random-weight CustomVoice checkpoint (`make_checkpoint('custom_voice', 'tiny', ...)`), "
        f"{a.requests} requests x {a.frames} frames ({a.frames * 0.08:.2f} s of audio each, `fixed_frames`), "
        f"streaming, torch {torch.__version__}, {a.threads} torch thread(s), "
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), fp32. "
        "Both engine runs in one process, one after the other; measured with "
        "`python benchmarks/qwen3_cpu_throughput.py`.",
        "",
        "| run | wall s | audio s | audio s per wall s | first audio mean / max s | mean batch |",
        "|---|---|---|---|---|---|",
        f"| engine, one at a time (batch_size=1) | {seq['wall_s']:.2f} | {seq['audio_s']:.2f} | {seq['rtf_x']:.2f} "
        f"| {seq['ttfa_mean_s']:.3f} / {seq['ttfa_max_s']:.3f} | {seq['mean_batch']:.2f} |",
        f"| engine, continuous batching (batch_size={a.requests}) | {bat['wall_s']:.2f} | {bat['audio_s']:.2f} "
        f"| {bat['rtf_x']:.2f} | {bat['ttfa_mean_s']:.3f} / {bat['ttfa_max_s']:.3f} | {bat['mean_batch']:.2f} |",
    ]
    if ref:
        lines.append(f"| reference `qwen_tts` generate_custom_voice, one at a time ({a.reference} requests) "
                     f"| {ref['wall_s']:.2f} | {ref['audio_s']:.2f} | {ref['rtf_x']:.2f} | (no streaming) | 1 |")
    lines += ["", f"**Batched / one-at-a-time throughput ratio: {ratio:.2f}x**", ""]
    if ref:
        lines += [f"Engine one-at-a-time vs reference one-at-a-time: {seq['rtf_x'] / ref['rtf_x']:.2f}x.", ""]
    lines += ["On a tiny model the per-step cost is mostly fixed overhead (Python, small kernels), which "
              "batching shares across streams; the codec decode (with 72 frames of left context per chunk) "
              "grows with the batch. Numbers on a shared 2-core machine vary by +-20% between runs."]
    report = "\n".join(lines) + "\n"
    print(report)
    print(f"ratio {ratio:.2f}")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(report)


if __name__ == "__main__":
    main()
