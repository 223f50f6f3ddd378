"""Before the GPU run starts anything: import every module it will need and say what is missing (seconds).

    python benchmarks/gpu/check_imports.py [OUT.json]

Each module is imported in turn and its error (if any) recorded under the phases that need it; the
run goes on either way (a phase whose modules are missing fails fast and says so). Also checked:
the ``qwen3`` engine's entry point, ``qwen.tiktoken`` located without importing ``dashscope``, and
that serving pcm does not import ``av`` (PyAV is not carried).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path

# module -> the run's phases that need it
NEEDED = {
    "numpy": "all", "torch": "all", "transformers": "all", "qwen_tts": "all",
    "flashtts_engines.qwen3.checkpoint": "checkpoint", "tokenizers": "checkpoint", "safetensors": "checkpoint",
    "tiktoken": "checkpoint",
    "fastapi": "server", "starlette": "server", "pydantic": "server", "uvicorn": "server",
    "python_multipart": "server", "wyoming": "server", "flashtts.http.app": "server", "flashtts.http.server": "server",
    "flashtts_engines.qwen3.engine": "server", "flashtts_engines.qwen3.static_step": "server",
    "httpx": "bench", "typer": "bench", "rich": "bench", "flashtts.cli.bench.cli": "bench",
    "faster_qwen3_tts": "faster-qwen3-tts baseline",
    "matplotlib": "summary.png",
}


def main() -> int:
    t0 = time.perf_counter()
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    missing: dict[str, str] = {}
    times: dict[str, float] = {}
    for name, phase in NEEDED.items():
        t = time.perf_counter()
        try:
            if name == "qwen_tts":  # through the project's shims (torchaudio without its kernels, quiet)
                from flashtts_engines.qwen3._compat import import_qwen_tts

                import_qwen_tts()
            else:
                importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            missing[name] = f"{type(exc).__name__}: {exc} (needed by: {phase})"
        times[name] = round(time.perf_counter() - t, 2)
    report: dict = {"python": sys.version.split()[0], "missing": missing, "import_seconds": times}
    report["av_imported_by_server"] = "av" in sys.modules
    if report["av_imported_by_server"]:
        missing["av"] = "imported while importing the server: PyAV is not carried (flashtts/audio.py imports it lazily)"
    try:
        from importlib.metadata import entry_points

        names = {e.name for e in entry_points(group="flashtts.engines")}
        report["engines"] = sorted(names)
        if "qwen3" not in names:
            missing["entry point qwen3"] = "flashtts is not installed where this Python looks (run.sh installs it)"
    except Exception as exc:  # noqa: BLE001
        missing["entry points"] = f"{type(exc).__name__}: {exc}"
    try:
        from flashtts_engines.qwen3.checkpoint import _find_qwen_tiktoken

        tok = _find_qwen_tiktoken()
        report["qwen_tiktoken"] = str(tok) if tok else None
        if tok is None:
            missing["qwen.tiktoken"] = "the dashscope wheel is not installed (full-size checkpoints need it)"
        if "dashscope" in sys.modules:
            missing["dashscope"] = "imported while locating qwen.tiktoken (its own dependencies are not carried)"
    except Exception as exc:  # noqa: BLE001
        missing["qwen.tiktoken"] = f"{type(exc).__name__}: {exc}"
    report["seconds"] = round(time.perf_counter() - t0, 1)
    if out is not None:
        out.write_text(json.dumps(report, indent=1))
    print(f"imports checked in {report['seconds']} s: "
          + ("all present" if not missing else f"{len(missing)} MISSING"), flush=True)
    for name, why in missing.items():
        print(f"  MISSING {name}: {why}", flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # no interpreter teardown of everything imported (seconds, or a hang on a stray thread)
