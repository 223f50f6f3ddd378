"""CPU: the serial work of each Qwen3 frame, before and after a change, side by side in one run.

Two figures per code version, on one full-size random-weight checkpoint (0.6B CustomVoice):

* the decode step (talker + 15 code-predictor steps + sampling) of the static backend, eager and
  compiled (``torch.compile``, Inductor), at batch 1 and 8: median milliseconds per step over
  ``--frames`` greedy steps after two warm-up steps, the first step's time (compilation) apart, and
  ATen operations per eager step (``qwen3_static_step_cpu.py``'s own measurement);
* the codec decoder (``Qwen3Runner.decode_audio``) streaming ``--audio_frames`` frames to each of
  1 and 8 streams on two chunk schedules (first 4 then 12 frames: the engine's defaults; 1, 2, 4, 8
  then 8: the GPU run's): milliseconds of decoding per second of audio.

``--before DIR`` names a checkout of the code to compare against (e.g. ``git archive BASE | tar -x
-C DIR``); each version runs in its own subprocess (``PYTHONPATH`` puts that checkout's
``flashtts`` and ``engines`` first), alternating, ``--repeats`` times; medians are reported with the
after/before ratio. The machine is whatever runs it: quote ratios, not absolute times.

    python benchmarks/qwen3_serial_work_cpu.py --before /tmp/base --out docs/benchmarks/qwen3_serial_work_cpu
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEXT = "The quick brown fox jumps over the lazy dog while the farmer watches from his porch."
FRAME_S = 0.08
SCHEDULES = {"4,12": [4, 12], "1,2,4,8": [1, 2, 4, 8]}


def _shim(code: Path) -> Path:
    """A folder holding ``flashtts_engines`` -> ``code/engines`` (the installed name of the engines)."""
    shim = Path(tempfile.gettempdir()) / f"flashtts-shim-{abs(hash(str(code.resolve())))}"
    shim.mkdir(exist_ok=True)
    link = shim / "flashtts_engines"
    if not link.exists():
        link.symlink_to(code.resolve() / "engines")
    return shim


# ---- worker (one code version, one process) ------------------------------------------------------
def _decode_times(runner, streams_n: int, frames: int, schedule: list[int]) -> dict:
    """Decode ``frames`` random frames for ``streams_n`` streams in chunks of ``schedule`` (last size repeats)."""
    import torch

    from flashtts_engines.qwen3.sampling import Sampling

    gen = torch.Generator().manual_seed(0)
    prompt = runner.build_prompt(TEXT, speaker="ryan", language="english")
    streams = [runner.new_stream(f"d{i}", prompt, Sampling.greedy(frames), schedule[0], schedule[-1])
               for i in range(streams_n)]
    codes = torch.randint(0, 2048, (streams_n, frames, runner.groups), generator=gen)
    spent, cpu, audio, chunk_i, since = 0.0, 0.0, 0.0, 0, 0
    with torch.no_grad():
        for f in range(frames):
            for i, s in enumerate(streams):
                s.frames.append(codes[i, f])
            since += 1
            last = f == frames - 1
            if since >= schedule[min(chunk_i, len(schedule) - 1)] or last:
                if last:
                    for s in streams:
                        s.done = True
                t0, c0 = time.perf_counter(), time.process_time()
                wavs = runner.decode_audio(streams)
                spent += time.perf_counter() - t0
                cpu += time.process_time() - c0
                audio += sum(len(w) for w in wavs) / runner.sample_rate
                chunk_i += 1
                since = 0
    return dict(kind="decode", streams=streams_n, schedule=",".join(map(str, schedule)), frames=frames,
                ms_per_audio_s=round(1000 * spent / audio, 2), cpu_ms_per_audio_s=round(1000 * cpu / audio, 2),
                audio_s=round(audio, 2))


def worker(a: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(a.threads)
    from flashtts_engines.qwen3.checkpoint import make_checkpoint
    from flashtts_engines.qwen3.model import Qwen3Runner

    if not (a.checkpoint / "config.json").is_file():
        make_checkpoint("custom_voice", a.size, a.checkpoint, seed=0)
    runner = Qwen3Runner(str(a.checkpoint), threads=a.threads)
    out = []
    from qwen3_static_step_cpu import run as step_times  # the static-step benchmark's own measurement

    for mode in a.modes.split(","):
        for rows in (int(b) for b in a.batches.split(",")):
            torch._dynamo.reset()
            out.append({"kind": "step", **step_times(mode, runner, rows, a.frames, "inductor")})
            print(json.dumps(out[-1]), flush=True)
    for n in (int(b) for b in a.decode_streams.split(",") if b):
        for sched in SCHEDULES.values():
            out.append(_decode_times(runner, n, a.audio_frames, sched))
            print(json.dumps(out[-1]), flush=True)
    a.json.write_text(json.dumps(out))


# ---- driver ----------------------------------------------------------------------------------------
def _run_version(a: argparse.Namespace, code: Path | None, target: Path) -> list[dict]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(_shim(code)), str(code.resolve()), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, __file__, "--worker", "--json", str(target), "--checkpoint", str(a.checkpoint),
           "--size", a.size, "--modes", a.modes, "--batches", a.batches, "--frames", str(a.frames),
           "--threads", str(a.threads), "--decode_streams", a.decode_streams, "--audio_frames", str(a.audio_frames)]
    subprocess.run(cmd, env=env, check=True)
    return json.loads(target.read_text())


def _key(r: dict) -> tuple:
    if r["kind"] == "step":
        return ("step", r["mode"], r["batch"])
    return ("decode", r["streams"], r["schedule"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, help="checkout of the code to compare against")
    p.add_argument("--size", default="0.6b")
    p.add_argument("--modes", default="static,static-compiled")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--decode_streams", default="1,8")
    p.add_argument("--audio_frames", type=int, default=50)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--checkpoint", type=Path, default=Path(tempfile.gettempdir()) / "flashtts-serial-bench-0.6b")
    p.add_argument("--out", type=Path, default=None, help="OUT.json and OUT.md")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        worker(a)
        return
    versions: list[tuple[str, Path | None]] = ([("before", a.before)] if a.before else []) + [("after", None)]
    runs: dict[str, list[list[dict]]] = {name: [] for name, _ in versions}
    tmp = Path(tempfile.mkdtemp(prefix="serial-bench-"))
    for rep in range(a.repeats):
        for name, code in versions:
            print(f"== {name} (repeat {rep + 1}/{a.repeats})", flush=True)
            runs[name].append(_run_version(a, code, tmp / f"{name}-{rep}.json"))
    rows = []
    for r in runs[versions[-1][0]][0]:
        key = _key(r)
        row: dict = {"what": key}
        for name, _ in versions:
            same = [x for rep in runs[name] for x in rep if _key(x) == key]
            metric = "step_ms" if key[0] == "step" else "ms_per_audio_s"
            row[name] = round(statistics.median(x[metric] for x in same), 1)
            row[f"{name}_cpu"] = round(statistics.median(x.get(f"{'step_' if key[0] == 'step' else ''}cpu_"
                                                          f"{metric.removeprefix('step_')}", 0) for x in same), 1)
            if key[0] == "step":
                row[f"{name}_first_step_s"] = max(x["first_step_s"] for x in same)
                row[f"{name}_ops_per_step"] = same[0].get("ops_per_step")
        if "before" in row:
            row["after_over_before"] = round(row["after"] / row["before"], 3)
            if row["before_cpu"]:
                row["cpu_after_over_before"] = round(row["after_cpu"] / row["before_cpu"], 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    meta = dict(command="python " + " ".join(sys.argv), machine=f"{platform.machine()}, {os.cpu_count()} cores",
                python=platform.python_version(), threads=a.threads, repeats=a.repeats, size=a.size,
                frames=a.frames, audio_frames=a.audio_frames, when=time.strftime("%Y-%m-%d %H:%M"))
    if a.out:
        a.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows, "runs": runs}, indent=1))
        lines = [f"`{meta['command']}`", "",
                 "| what | wall before | wall after | after / before | CPU before | CPU after | after / before "
                 "| ATen ops per eager step, before / after |", "|---|---|---|---|---|---|---|---|"]
        for row in rows:
            k = row["what"]
            what = (f"step {k[1]}, batch {k[2]} (ms per step)" if k[0] == "step"
                    else f"codec decoder, {k[1]} stream(s), chunks {k[2]} (ms per audio s)")
            ratio = row.get("after_over_before", "-")
            ops = (f"{row.get('before_ops_per_step') or '-'} / {row.get('after_ops_per_step') or '-'}"
                   if k[0] == "step" and k[1] == "static" else "")
            cpu = (f"{row.get('before_cpu', '-')} | {row['after_cpu']} | {row.get('cpu_after_over_before', '-')}")
            lines.append(f"| {what} | {row.get('before', '-')} | {row['after']} | {ratio} | {cpu} | {ops} |")
        a.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
        print(f"wrote {a.out}.json/.md")


if __name__ == "__main__":
    main()
