"""Check a results folder of the GPU run: the device's limits, and (``--rehearsal``) that every phase worked.

    python benchmarks/gpu/check_results.py OUT [--rehearsal]

Always: at most 8 files of at most 16 MiB each (what the device returns), ``summary.json`` readable.
``--rehearsal`` (CPU, tiny checkpoint): no module missing, every phase ``ok``, every load point with
all requests answered in one segment each, the reference baseline measured, faster-qwen3-tts
skipped as CUDA-only. Prints the problems; exits 1 if there are any.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MAX_FILES, MAX_FILE_BYTES = 8, 16 * 2**20


def problems(out: Path, rehearsal: bool, allow_missing: tuple[str, ...] = ()) -> list[str]:
    files = [p for p in out.rglob("*") if p.is_file()]
    found = [f"{len(files)} files in {out} (the device returns at most {MAX_FILES})"] if len(files) > MAX_FILES else []
    found += [f"{p.name} is {p.stat().st_size} bytes (at most {MAX_FILE_BYTES})" for p in files
              if p.stat().st_size > MAX_FILE_BYTES]
    try:
        summary = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        return found + [f"summary.json: {exc}"]
    if not rehearsal:
        return found
    found += [f"missing module {k}: {v}" for k, v in ((summary.get("imports") or {}).get("missing") or {}).items()
              if k not in allow_missing]
    if summary.get("imports") is None:
        found.append("no import check in the summary")
    found += [f"phase {k}: {v.get('status')} {v.get('error', '')}" for k, v in summary["phases"].items()
              if v.get("status") != "ok"]
    frames_s = summary["meta"]["audio_s_per_request"]
    for name in ("one_stream", "poisson", "closed_loop"):
        points = summary["flashtts"].get(name) or []
        if not points:
            found.append(f"{name}: no load point measured")
        for p in points:
            if not (p["ok"] == p["requests"] > 0 and p["errors"] == 0):
                found.append(f"{name} {p['mode']} {p['load']}: {p['ok']}/{p['requests']} ok, "
                             f"errors {p['error_samples']}")
            elif abs((p.get("audio_s_per_request") or 0) - frames_s) > 0.01:
                found.append(f"{name} {p['mode']} {p['load']}: {p.get('audio_s_per_request')} s of audio per request, "
                             f"not {frames_s} (one segment of the fixed length)")
    check = summary.get("selfcheck") or {}
    if not (check.get("alone_vs_batch_of_8") or {}).get("equal"):
        found.append(f"self-check alone vs batch of 8 (float32 must be equal): {check}")
    base = summary.get("baselines") or {}
    if not (base.get("reference") or {}).get("audio_s_per_wall_s"):
        found.append(f"reference baseline: {base.get('reference')}")
    if "CUDA only" not in str((base.get("faster") or {}).get("skipped")):
        found.append(f"faster-qwen3-tts on CPU: {base.get('faster')}")
    if not (out / "summary.png").is_file():
        found.append("no summary.png")
    return found


if __name__ == "__main__":
    args = sys.argv[1:]
    found = problems(Path(args[0]), "--rehearsal" in args)
    print("\n".join(found) if found else f"{args[0]}: within the device's limits" +
          (", every phase ok" if "--rehearsal" in args else ""))
    sys.exit(1 if found else 0)
