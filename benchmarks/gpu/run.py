"""The GPU run, fail-soft: self-check -> checkpoint -> server -> ``flashtts bench`` -> baselines -> summary.

    python benchmarks/gpu/run.py [--out DIR] [--device cuda|cpu] [--rehearsal]   (run.sh sets it up first)

Phases, each with its own time budget (printed at the start; a phase gets at most what is left of
the run's total) and its own failure: a phase that fails or runs out of time records its error in
the summary and the run goes on to the next one.

1. ``selfcheck``: ``selfcheck.py`` on a tiny checkpoint (graph replay == eager; seeded alone vs in
   a batch of 8, frames until divergence in bfloat16);
2. ``checkpoint``: ``flashtts dev make-checkpoint`` (random weights, end-of-speech row zeroed, so
   every system generates exactly ``FRAMES`` frames) into the scratch folder;
3. ``server``: ``flashtts serve --engine qwen3 --backend static`` (CUDA graphs of the used row and
   width buckets captured at start), first chunk 1 frame, then 2, 4, 8 (``chunk_growth``), one
   segment per request (``--length_threshold`` above the longest bench text);
4. ``one_stream``, ``poisson``, ``closed_loop``: one ``flashtts bench`` per load point, after one
   uncounted warm-up request per phase;
5. ``faster``: faster-qwen3-tts at flashtts's first chunk (1 frame) and at its own default (12);
   ``reference``: the reference ``generate`` once at batch 1;
6. the summary: ``summary.json`` (every figure, every error, each phase's time), ``summary.png``,
   the tails of ``server.log`` and ``run.log``: 4 files in ``--out`` (the device returns at most 8
   of at most 16 MiB). Checkpoints, roles and bench files stay in the scratch folder (``/tmp``).

``--rehearsal``: tiny checkpoint and load points (CPU; proves the script, not the speed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FRAME_S = 0.08
MAX_FILES, MAX_FILE_BYTES = 8, 16 * 2**20
LOG_TAIL_BYTES = 2**20


@dataclass(frozen=True)
class Plan:
    """Load points and time budgets (seconds) of one kind of run."""

    size: str
    frames: int  # per request
    one_stream: int  # requests at concurrency 1
    rates: tuple[float, ...]
    rate_requests: int
    concurrency: tuple[int, ...]
    closed_requests: int
    repeats: int  # timed runs per baseline setting
    selfcheck_frames: int
    budgets: dict[str, float] = field(default_factory=dict)
    total: float = 0.0  # the whole run.py, setup by run.sh excluded

    @property
    def batch(self) -> int:
        return max(self.concurrency)


# GPU: 1.7B CustomVoice, 58 frames (4.64 s) per request, as the baselines measured in ../shared/tools/gpu;
# the budgets sum to the total, under 6 minutes with run.sh's setup (under 7 with the machine's start)
GPU = Plan(size="1.7b", frames=58, one_stream=20, rates=(10.0, 20.0, 40.0), rate_requests=100,
           concurrency=(32, 64, 128), closed_requests=256, repeats=3, selfcheck_frames=40,
           budgets=dict(selfcheck=35, checkpoint=45, server=75, one_stream=20, poisson=40, closed_loop=45,
                        faster=45, reference=30, summary=10), total=335)
CPU = Plan(size="tiny", frames=6, one_stream=2, rates=(2.0,), rate_requests=3, concurrency=(2,), closed_requests=4,
           repeats=1, selfcheck_frames=16,
           budgets=dict(selfcheck=240, checkpoint=180, server=240, one_stream=120, poisson=120, closed_loop=120,
                        faster=30, reference=180, summary=30), total=1260)  # bounds for a 2-core machine under load


class Run:
    """The phases' bookkeeping: deadlines, errors, the console log."""

    def __init__(self, plan: Plan, out: Path, scratch: Path) -> None:
        self.plan, self.out, self.scratch = plan, out, scratch
        self.t0 = time.monotonic()
        self.phases: dict[str, dict] = {}

    def left(self) -> float:
        return self.plan.total - (time.monotonic() - self.t0)

    def log(self, msg: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f} s] {msg}", flush=True)

    def budget(self, name: str) -> float:
        """This phase's limit: its budget, or what is left of the total less the summary's share."""
        return max(0.0, min(self.plan.budgets[name], self.left() - self.plan.budgets["summary"]))

    def phase(self, name: str, fn, *args) -> object:
        """Run ``fn(limit, *args)``; record its time and any error; never raise."""
        limit = self.budget(name)
        rec: dict = {"budget_s": self.plan.budgets[name], "limit_s": round(limit, 1)}
        self.phases[name] = rec
        if limit < 3:
            rec["status"] = "skipped: no time left"
            self.log(f"{name}: skipped (no time left)")
            return None
        self.log(f"{name}: start (limit {limit:.0f} s)")
        t = time.monotonic()
        try:
            value = fn(limit, *args)
            rec["status"] = "ok"
            if isinstance(value, dict) and value.get("error"):  # a partial result: kept, and the error said
                rec["status"], rec["error"] = "error", str(value["error"])[:2000]
            return value
        except subprocess.TimeoutExpired:
            rec["status"] = "error"
            rec["error"] = f"out of time after {limit:.0f} s"
        except Exception as exc:  # noqa: BLE001 - a phase's failure is a result; the run goes on
            traceback.print_exc()
            rec["status"] = "error"
            rec["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            rec["took_s"] = round(time.monotonic() - t, 1)
            self.log(f"{name}: {rec['status']} in {rec['took_s']} s" + (f" ({rec['error']})" if "error" in rec else ""))
        return None


def _python(args: list[str], limit: float, log: Path | None = None) -> subprocess.CompletedProcess:
    """``python ARGS`` with a time limit; output to the console (or appended to ``log``)."""
    cmd = [sys.executable, *args]
    print("$", " ".join(cmd), flush=True)
    if log is None:
        return subprocess.run(cmd, timeout=limit, check=False)
    with open(log, "ab") as f:
        return subprocess.run(cmd, timeout=limit, check=False, stdout=f, stderr=subprocess.STDOUT)


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ---- phases -------------------------------------------------------------------------------------
def _script_report(args: list[str], target: Path, limit: float) -> dict:
    """Run a script that writes its JSON report to ``target`` as it goes; out of time, what it wrote
    so far with the error (the stage it reached, the figures it measured)."""
    target.unlink(missing_ok=True)
    try:
        proc = _python(args, limit)
    except subprocess.TimeoutExpired:
        partial = _json(target) or {}
        stage = f"; stage {partial['stage']}" if partial.get("stage") else ""
        partial["error"] = f"out of time after {limit:.0f} s{stage} (what it measured is kept)"
        return partial
    result = _json(target)
    if result is None:
        raise RuntimeError(f"{Path(args[0]).name} exited {proc.returncode} without a report")
    return result


def selfcheck(limit: float, run: Run, device: str) -> dict:
    target = run.scratch / "selfcheck.json"
    return _script_report([str(HERE / "selfcheck.py"), str(target), "--device", device, "--frames",
                           str(run.plan.selfcheck_frames), "--checkpoint", str(run.scratch / "selfcheck-tiny")],
                          target, limit)


def checkpoint(limit: float, run: Run, device: str, path: Path) -> Path:
    if (path / "config.json").is_file():
        return path
    cuda = device.startswith("cuda")
    proc = _python(["-m", "flashtts", "dev", "make-checkpoint", str(path), "--size", run.plan.size,
                    "--device", device, "--no-eos", "--dtype", "bfloat16" if cuda else "float32"], limit)
    if proc.returncode != 0 or not (path / "config.json").is_file():
        raise RuntimeError(f"make-checkpoint exited {proc.returncode}")
    return path


def bench_texts(scratch: Path) -> tuple[Path, int]:
    """The committed bench texts, one per line (each becomes one segment below the threshold returned)."""
    from flashtts.cli.bench.client import load_texts

    texts = load_texts()
    path = scratch / "texts.txt"
    path.write_text("\n".join(texts) + "\n")
    return path, max(len(t) for t in texts) + 20


def server_args(run: Run, ckpt: Path, device: str, threshold: int) -> list[str]:
    p = run.plan
    return ["--engine", "qwen3", "--model_path", str(ckpt), "--backend", "static", "--device", device,
            "--batch_size", str(p.batch), "--queue_limit", str(4 * p.batch), "--wait_timeout", "0",
            "--length_threshold", str(threshold), "--role_dir", str(run.scratch / "roles"),
            "--engine_opt", f"fixed_frames={p.frames}", "--engine_opt", "max_len=128",
            "--engine_opt", "first_chunk_frames=1", "--engine_opt", "chunk_frames=8",
            "--engine_opt", "chunk_growth=1"]


def warm_up(url: str, voice: str) -> float:
    """One request, streamed to the end, not counted: returns its seconds."""
    import httpx

    t = time.perf_counter()
    body = {"model": "tts-1", "input": "Warming up the server.", "voice": voice, "response_format": "pcm",
            "stream": True}
    with httpx.stream("POST", url + "/v1/audio/speech", json=body, timeout=120) as resp:
        resp.raise_for_status()
        for _ in resp.iter_bytes():
            pass
    return time.perf_counter() - t


def bench_phase(limit: float, run: Run, url: str, name: str, points: list[list[str]], requests: int,
                texts: Path) -> list[dict]:
    """One uncounted warm-up request, then one ``flashtts bench`` per load point (each within what is left)."""
    deadline = time.monotonic() + limit
    rec = run.phases[name]
    rec["warmup_s"] = round(warm_up(url, "ryan"), 2)
    results: list[dict] = []
    for i, point in enumerate(points):
        left = deadline - time.monotonic()
        if left < 3:
            rec.setdefault("errors", []).append(f"load point {' '.join(point)}: no time left")
            continue
        target = run.scratch / f"{name}-{i}.json"
        target.unlink(missing_ok=True)
        args = ["-m", "flashtts", "bench", "--url", url, "--voice", "ryan", "--texts", str(texts),
                "--requests", str(requests), "--out", str(target), "--title", f"{name} {' '.join(point)}", *point]
        try:
            proc = _python(args, left)
        except subprocess.TimeoutExpired:
            rec.setdefault("errors", []).append(f"load point {' '.join(point)}: out of time ({left:.0f} s)")
            continue
        data = _json(target)
        if data is None:
            rec.setdefault("errors", []).append(f"load point {' '.join(point)}: bench exited {proc.returncode}, "
                                                "no report")
            continue
        for r in data.get("runs", []):
            r["audio_s_per_request"] = round(r["audio_seconds"] / r["ok"], 3) if r.get("ok") else None
            results.append(r)
    if not results:
        raise RuntimeError("; ".join(rec.get("errors", ["no load point finished"])))
    return results


def start_server(limit: float, run: Run, ckpt: Path, device: str, threshold: int):
    """``flashtts serve`` on loopback, ready (model loaded, every used bucket captured) within ``limit``."""
    sys.path.insert(0, str(ROOT))  # tools/ is the repository's, not the installed package's
    from tools.live_server import LiveServer

    server = LiveServer(server_args(run, ckpt, device, threshold), log_path=run.scratch / "server.log")
    server.start(timeout=limit)
    return server


def server_info(url: str) -> dict | None:
    """The engine's counters (warm-up seconds, CUDA graphs, steps) from ``/server_info``."""
    import httpx

    try:
        return httpx.get(url + "/server_info", timeout=10).json()
    except Exception:  # noqa: BLE001 - informative only
        return None


def baseline(limit: float, run: Run, system: str, ckpt: Path, device: str) -> dict:
    target = run.scratch / f"{system}.json"
    return _script_report([str(HERE / "baselines.py"), system, str(ckpt), str(target), "--device", device,
                           "--frames", str(run.plan.frames), "--chunks", "1,12", "--repeats", str(run.plan.repeats)],
                          target, limit)


# ---- summary ------------------------------------------------------------------------------------------
def _point(runs: list[dict] | None, mode: str, load: float) -> dict | None:
    for r in runs or []:
        if r.get("mode") == mode and float(r.get("load", -1)) == load:
            return r
    return None


def targets(flash: dict, base: dict) -> dict:
    """The issue's targets (H200, 1.7B CustomVoice), each with the figure it was judged on."""
    out: dict = {}
    one = _point(flash.get("one_stream"), "concurrency", 1)
    if one:
        rtf = one.get("rtf_median")
        out["one_stream_p95_first_audio_le_50ms"] = dict(value_s=one.get("ttfa_p95"),
                                                          met=(one.get("ttfa_p95") or 1e9) <= 0.05)
        out["one_stream_ge_5x_real_time"] = dict(value=rtf, met=(rtf or 0) >= 5)
    p20 = _point(flash.get("poisson"), "poisson", 20)
    if p20:
        out["poisson_20_p95_first_audio_le_100ms_no_underruns"] = dict(
            value_s=p20.get("ttfa_p95"), underrun_streams=p20.get("streams_with_underruns"),
            met=(p20.get("ttfa_p95") or 1e9) <= 0.1 and p20.get("streams_with_underruns") == 0 and not p20["errors"])
    c128 = _point(flash.get("closed_loop"), "concurrency", 128)
    if c128:
        out["closed_128_ge_300_audio_s_per_s"] = dict(value=c128.get("audio_seconds_per_second"),
                                                       met=(c128.get("audio_seconds_per_second") or 0) >= 300)
    fast = (base.get("faster") or {}).get("chunks", {})
    if one and fast:
        f1 = fast.get("1", {})
        out["ahead_of_faster_qwen3_tts_one_stream"] = dict(
            flashtts_first_audio_p50_s=one.get("ttfa_p50"), faster_first_audio_median_s=f1.get("first_audio_s_median"),
            flashtts_rtf=one.get("rtf_median"), faster_rtf=f1.get("audio_s_per_wall_s"),
            met=bool(f1) and (one.get("ttfa_p50") or 1e9) < (f1.get("first_audio_s_median") or 0)
            and (one.get("rtf_median") or 0) > (f1.get("audio_s_per_wall_s") or 1e9))
    return out


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flash = summary["flashtts"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    labels, ttfa50, ttfa95, thr = [], [], [], []
    for name in ("one_stream", "poisson", "closed_loop"):
        for r in flash.get(name) or []:
            labels.append(f"{'rate' if r['mode'] == 'poisson' else 'conc'} {r['load']:g}")
            ttfa50.append(1000 * (r.get("ttfa_p50") or 0))
            ttfa95.append(1000 * (r.get("ttfa_p95") or 0))
            thr.append(r.get("audio_seconds_per_second") or 0)
    x = range(len(labels))
    axes[0].bar([i - 0.2 for i in x], ttfa50, 0.4, label="p50")
    axes[0].bar([i + 0.2 for i in x], ttfa95, 0.4, label="p95")
    axes[0].set_xticks(list(x), labels, rotation=30)
    axes[0].set_ylabel("first audio (ms)")
    axes[0].legend()
    axes[1].bar(list(x), thr)
    axes[1].set_xticks(list(x), labels, rotation=30)
    axes[1].set_ylabel("audio seconds per wall second")
    names, rtf = [], []
    one = _point(flash.get("one_stream"), "concurrency", 1)
    if one:
        names.append("flashtts")
        rtf.append(one.get("rtf_median") or 0)
    for chunk, d in ((summary["baselines"].get("faster") or {}).get("chunks") or {}).items():
        names.append(f"faster chunk {chunk}")
        rtf.append(d.get("audio_s_per_wall_s") or 0)
    ref = summary["baselines"].get("reference") or {}
    if ref.get("audio_s_per_wall_s"):
        names.append("reference generate")
        rtf.append(ref["audio_s_per_wall_s"])
    axes[2].barh(names, rtf)
    axes[2].set_xlabel("one stream: x real time")
    fig.suptitle(summary["meta"]["title"])
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _tail(src: Path, dst: Path) -> None:
    if src.is_file():
        with open(src, "rb") as f:
            f.seek(max(0, src.stat().st_size - LOG_TAIL_BYTES))
            dst.write_bytes(f.read())


def check_out(out: Path) -> list[str]:
    """The device's limits on what comes back: at most 8 files, 16 MiB each."""
    files = [p for p in out.rglob("*") if p.is_file()]
    problems = [f"{len(files)} files (at most {MAX_FILES})"] if len(files) > MAX_FILES else []
    problems += [f"{p.name}: {p.stat().st_size} bytes" for p in files if p.stat().st_size > MAX_FILE_BYTES]
    return problems


def summarise(run: Run, summary: dict) -> None:
    summary["targets"] = targets(summary["flashtts"], summary["baselines"])
    summary["seconds"] = round(time.monotonic() - run.t0, 1)
    (run.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    _tail(run.scratch / "server.log", run.out / "server.log")
    try:
        plot(summary, run.out / "summary.png")
    except Exception as exc:  # noqa: BLE001 - the picture only
        summary["errors"].append(f"summary.png: {type(exc).__name__}: {exc}")
        (run.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "/tmp/flashtts-gpu-out"))
    p.add_argument("--device", default="cuda")
    p.add_argument("--rehearsal", action="store_true", help="tiny checkpoint and load points (CPU rehearsal)")
    p.add_argument("--scratch", type=Path, default=Path(os.environ.get("SCRATCH") or "/tmp/flashtts-gpu-run"))
    p.add_argument("--total", type=float, default=None, help="seconds for the whole run (default: the plan's)")
    a = p.parse_args()
    plan = CPU if a.rehearsal or a.device == "cpu" else GPU
    if a.total:
        plan = Plan(**{**plan.__dict__, "total": a.total})
    a.out.mkdir(parents=True, exist_ok=True)
    a.scratch.mkdir(parents=True, exist_ok=True)
    run = Run(plan, a.out, a.scratch)
    run.log(f"plan: {plan.size}, {plan.frames} frames per request, total {plan.total:.0f} s; budgets (s): "
            + ", ".join(f"{k} {v:g}" for k, v in plan.budgets.items()))
    meta = {"title": f"flashtts --backend static, Qwen3-TTS {plan.size} CustomVoice (random weights), {a.device}",
            "device": a.device, "size": plan.size, "frames_per_request": plan.frames,
            "audio_s_per_request": round(plan.frames * FRAME_S, 2), "rehearsal": plan is CPU,
            "python": sys.version.split()[0], "command": " ".join(sys.argv)}
    try:
        import torch

        meta["torch"] = torch.__version__
        if a.device.startswith("cuda"):
            meta["gpu"] = torch.cuda.get_device_name(0)
    except Exception as exc:  # noqa: BLE001
        meta["torch_error"] = f"{type(exc).__name__}: {exc}"
    summary: dict = {"meta": meta, "imports": _json(a.scratch / "imports.json"), "phases": run.phases,
                     "selfcheck": None, "flashtts": {}, "baselines": {}, "errors": []}
    summary["selfcheck"] = run.phase("selfcheck", selfcheck, run, a.device)
    ckpt = run.phase("checkpoint", checkpoint, run, a.device, a.scratch / f"checkpoint-{plan.size}")
    if ckpt is not None:
        texts, threshold = bench_texts(a.scratch)
        server = run.phase("server", start_server, run, ckpt, a.device, threshold)
        if server is not None:
            try:
                summary["flashtts"]["server_info_at_start"] = server_info(server.url)
                for name, points, requests in (
                        ("one_stream", [["--concurrency", "1"]], plan.one_stream),
                        ("poisson", [["--rate", f"{r:g}"] for r in plan.rates], plan.rate_requests),
                        ("closed_loop", [["--concurrency", str(c)] for c in plan.concurrency], plan.closed_requests)):
                    summary["flashtts"][name] = run.phase(name, bench_phase, run, server.url, name, points, requests,
                                                          texts)
                summary["flashtts"]["server_info_at_end"] = server_info(server.url)
            finally:
                server.stop()
        for system in ("faster", "reference"):
            summary["baselines"][system] = run.phase(system, baseline, run, system, ckpt, a.device)
    try:
        summarise(run, summary)
    except Exception as exc:  # noqa: BLE001 - the log keeps whatever else there is
        traceback.print_exc()
        run.log(f"summary failed: {type(exc).__name__}: {exc}")
    _tail(a.scratch / "run.log", a.out / "run.log")
    problems = check_out(a.out)
    if problems:
        run.log("results folder over the device's limits: " + "; ".join(problems))
    failed = [k for k, v in run.phases.items() if v.get("status") != "ok"]
    run.log(f"done in {time.monotonic() - run.t0:.0f} s; phases not ok: {', '.join(failed) or 'none'}; "
            f"results in {a.out}")


if __name__ == "__main__":
    main()
