"""One-stream baselines on the run's checkpoint: faster-qwen3-tts (CUDA only) and the reference ``qwen_tts`` generate.

    python benchmarks/gpu/baselines.py SYSTEM CKPT OUT.json [--device cuda] [--frames 58] [--chunks 1,12]
                                       [--repeats 3]

SYSTEM ``faster``: faster-qwen3-tts (CUDA graphs) streams one English sentence as speaker ``ryan``
at each chunk size of ``--chunks`` (the first is flashtts's first chunk, the last faster-qwen3-tts's
own default of 12 frames): first-audio time and real-time factor, one warm-up then ``--repeats``
timed runs each. SYSTEM ``reference``: the reference ``generate_custom_voice`` once at batch 1
after a 2-token warm-up (no streaming: its wall time is its first audio).

Every run generates ``--frames`` frames (``max_new_tokens = frames + 1``; the checkpoint's
end-of-speech row is zeroed). The JSON is written after every run, so a time limit keeps what was
measured; a failure is recorded as ``error``.
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


def reference(a: argparse.Namespace, result: dict, save) -> None:
    import torch

    from flashtts_engines.qwen3._compat import import_qwen_tts  # the project's import shims

    Qwen3TTSModel = import_qwen_tts().Qwen3TTSModel
    dtype = torch.bfloat16 if a.device.startswith("cuda") else torch.float32
    load_s, m = _timed(a.device, lambda: Qwen3TTSModel.from_pretrained(a.checkpoint, device_map=a.device,
                                                                        dtype=dtype))
    result.update(load_s=round(load_s, 2), streaming=False, runs=[])
    save()

    def gen(tokens: int):
        return m.generate_custom_voice(text=TEXT, speaker="ryan", language="English", max_new_tokens=tokens)

    warm_s, _ = _timed(a.device, lambda: gen(2))
    result["warmup_s"] = round(warm_s, 2)
    wall, (wavs, sr) = _timed(a.device, lambda: gen(a.frames + 1))
    audio = len(wavs[0]) / sr
    result["runs"].append(dict(wall_s=round(wall, 3), audio_s=round(audio, 3), first_audio_s=round(wall, 3)))
    result["audio_s_per_wall_s"] = round(audio / wall, 3)
    save()


def faster(a: argparse.Namespace, result: dict, save) -> None:
    if not a.device.startswith("cuda"):
        result["skipped"] = "faster-qwen3-tts runs on CUDA only"
        return
    import torch

    from flashtts_engines.qwen3._compat import import_qwen_tts

    import_qwen_tts()  # faster-qwen3-tts imports qwen_tts: with the project's shims first
    from faster_qwen3_tts import FasterQwen3TTS

    load_s, m = _timed(a.device, lambda: FasterQwen3TTS.from_pretrained(a.checkpoint, device=a.device,
                                                                        dtype=torch.bfloat16))
    capture_s, _ = _timed(a.device, lambda: m.warmup(prefill_len=100))
    result.update(load_s=round(load_s, 2), graph_capture_s=round(capture_s, 2), streaming=True, chunks={})
    save()
    for chunk in (int(c) for c in a.chunks.split(",")):
        runs: list[dict] = []
        result["chunks"][str(chunk)] = {"runs": runs}
        for i in range(a.repeats + 1):
            _sync(a.device)
            t0 = time.perf_counter()
            first, samples, sr = None, 0, 24000
            for piece, piece_sr, _timing in m.generate_custom_voice_streaming(
                    text=TEXT, speaker="ryan", language="English", max_new_tokens=a.frames + 1, chunk_size=chunk):
                sr = piece_sr
                if first is None:
                    _sync(a.device)
                    first = time.perf_counter() - t0
                samples += len(piece)
            _sync(a.device)
            wall = time.perf_counter() - t0
            runs.append(dict(warmup=i == 0, first_audio_s=round(first or wall, 4), wall_s=round(wall, 3),
                             audio_s=round(samples / sr, 3), audio_s_per_wall_s=round(samples / sr / wall, 3)))
            timed = [r for r in runs if not r["warmup"]]
            if timed:
                result["chunks"][str(chunk)].update(
                    first_audio_s_max=max(r["first_audio_s"] for r in timed),
                    first_audio_s_median=sorted(r["first_audio_s"] for r in timed)[len(timed) // 2],
                    audio_s_per_wall_s=round(sum(r["audio_s"] for r in timed) / sum(r["wall_s"] for r in timed), 3))
            save()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("system", choices=["faster", "reference"])
    p.add_argument("checkpoint")
    p.add_argument("out", type=Path)
    p.add_argument("--device", default="cuda")
    p.add_argument("--frames", type=int, default=58)
    p.add_argument("--chunks", default="1,12")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    result: dict = {"system": a.system, "frames": a.frames, "text": TEXT}

    def save() -> None:
        a.out.write_text(json.dumps(result, indent=1))

    try:
        (faster if a.system == "faster" else reference)(a, result, save)
    except Exception as exc:  # noqa: BLE001 - recorded in the JSON; the run goes on
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
    save()
    print(a.system, json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
