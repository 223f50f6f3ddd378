"""One-stream baselines on a checkpoint: the reference ``qwen_tts`` generate and faster-qwen3-tts (CUDA only).

    python benchmarks/gpu/baselines.py CKPT OUT.json [--device cuda] [--frames 58] [--repeats 3]

Each system generates ``--frames`` frames (``max_new_tokens = frames + 1``; the checkpoint's
end-of-speech row is zeroed, so every run has that length) for one English sentence as speaker
``ryan``; the first call of each is a warm-up. faster-qwen3-tts also streams with a chunk of 4
frames for its first-audio time. A system that cannot run here is recorded with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXT = "The quick brown fox jumps over the lazy dog while the farmer watches from his porch."


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(device: str, fn) -> tuple[float, object]:
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - t0, out


def reference(ckpt: str, device: str, frames: int, repeats: int) -> dict:
    import torch

    from flashtts_engines.qwen3._compat import import_qwen_tts  # the project's import shims

    Qwen3TTSModel = import_qwen_tts().Qwen3TTSModel
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    load_s, m = _timed(device, lambda: Qwen3TTSModel.from_pretrained(ckpt, device_map=device, dtype=dtype))
    runs = []
    for i in range(repeats + 1):
        wall, (wavs, sr) = _timed(device, lambda: m.generate_custom_voice(
            text=TEXT, speaker="ryan", language="English", max_new_tokens=frames + 1))
        audio = len(wavs[0]) / sr
        runs.append(dict(warmup=i == 0, wall_s=round(wall, 3), audio_s=round(audio, 3),
                         audio_s_per_wall_s=round(audio / wall, 3)))
    timed = [r for r in runs if not r["warmup"]]
    return dict(load_s=round(load_s, 2), runs=runs, streaming=False,
                audio_s_per_wall_s=round(sum(r["audio_s"] for r in timed) / sum(r["wall_s"] for r in timed), 3))


def faster(ckpt: str, device: str, frames: int, repeats: int) -> dict:
    if not device.startswith("cuda"):
        return dict(skipped="faster-qwen3-tts runs on CUDA only")
    import torch

    from flashtts_engines.qwen3._compat import import_qwen_tts

    import_qwen_tts()  # faster-qwen3-tts imports qwen_tts: with the project's shims first
    from faster_qwen3_tts import FasterQwen3TTS

    load_s, m = _timed(device, lambda: FasterQwen3TTS.from_pretrained(ckpt, device=device, dtype=torch.bfloat16))
    capture_s, _ = _timed(device, lambda: m.warmup(prefill_len=100))
    runs = []
    for i in range(repeats + 1):
        _sync(device)
        t0 = time.perf_counter()
        first, samples, sr = None, 0, 24000
        for chunk, chunk_sr, _timing in m.generate_custom_voice_streaming(
                text=TEXT, speaker="ryan", language="English", max_new_tokens=frames + 1, chunk_size=4):
            sr = chunk_sr
            if first is None:
                _sync(device)
                first = time.perf_counter() - t0
            samples += len(chunk)
        _sync(device)
        wall = time.perf_counter() - t0
        runs.append(dict(warmup=i == 0, first_audio_s=round(first or wall, 4), wall_s=round(wall, 3),
                         audio_s=round(samples / sr, 3), audio_s_per_wall_s=round(samples / sr / wall, 3)))
    timed = [r for r in runs if not r["warmup"]]
    return dict(load_s=round(load_s, 2), graph_capture_s=round(capture_s, 2), runs=runs, streaming=True,
                chunk_frames=4, first_audio_s_max=max(r["first_audio_s"] for r in timed),
                audio_s_per_wall_s=round(sum(r["audio_s"] for r in timed) / sum(r["wall_s"] for r in timed), 3))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("out", type=Path)
    p.add_argument("--device", default="cuda")
    p.add_argument("--frames", type=int, default=58)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    result: dict = {"frames": a.frames, "text": TEXT, "systems": {}}
    for name, fn in (("reference_generate", reference), ("faster_qwen3_tts", faster)):
        try:
            result["systems"][name] = fn(a.checkpoint, a.device, a.frames, a.repeats)
        except Exception as exc:  # noqa: BLE001 - one system failing must not lose the others' figures
            traceback.print_exc()
            result["systems"][name] = dict(error=f"{type(exc).__name__}: {exc}")
        print(name, json.dumps(result["systems"][name]), flush=True)
        a.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())
