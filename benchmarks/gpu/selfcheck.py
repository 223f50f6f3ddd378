"""The GPU run's self-check (about 30 s): does the static step compute what it should on this device?

    python benchmarks/gpu/selfcheck.py OUT.json [--device cuda] [--checkpoint DIR]

On a tiny random-weight CustomVoice checkpoint, in the serving dtype (bfloat16 on CUDA, float32 on CPU):

* **graph replay == eager** (CUDA only): the same greedy streams through the static step with its
  CUDA graphs and without give the same frames (the graph replays the same kernels);
* **seeded alone vs in a batch of 8**: a seeded sampled request alone and beside seven others
  (other seeds and options, joining and leaving). In float32 the frames are equal; in bfloat16 a
  matrix product over 8 rows may round differently from one over 1, so the report gives how many
  frames stay equal before the first difference (equality is not expected there).

Each check records its result or its error; the JSON is written after each.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path

TEXTS = ["Hello world.", "The quick brown fox jumps over the lazy dog.", "She said she would be here by noon."]


def _frames(decode, runner, samplings):
    """Run streams of ``samplings`` through ``decode`` (rows leave as they finish) -> frames per stream."""
    import torch

    from flashtts_engines.qwen3.torch_generation import drive

    prompts = [runner.build_prompt(t, speaker="ryan") for t in TEXTS]
    streams = [runner.new_stream(f"s{i}", prompts[i % 3], s, 4, 12) for i, s in enumerate(samplings)]
    drive(decode, streams)
    return [torch.stack(s.frames) for s in streams]


def _first_difference(a, b) -> int | None:
    n = min(a.shape[0], b.shape[0])
    for i in range(n):
        if not bool((a[i] == b[i]).all()):
            return i
    return None if a.shape[0] == b.shape[0] else n


def graph_vs_eager(runner) -> dict:
    import torch

    from flashtts_engines.qwen3.sampling import Sampling
    from flashtts_engines.qwen3.static_step import StaticDecode

    samplings = [Sampling.greedy(24, ignore_eos=True), Sampling.greedy(12, ignore_eos=True),
                 Sampling.greedy(18, ignore_eos=True)]
    graphs = StaticDecode(runner, 4, {"max_len": "128"})
    graphs.warmup(rows=[1, 2, 4], widths=[64, 128])
    eager = StaticDecode(runner, 4, {"max_len": "128", "cuda_graphs": "0"})
    with torch.no_grad():
        g = _frames(graphs, runner, samplings)
        e = _frames(eager, runner, samplings)
    diffs = [_first_difference(a, b) for a, b in zip(g, e, strict=True)]
    return dict(equal=all(d is None for d in diffs), first_difference_per_stream=diffs,
                frames=[int(x.shape[0]) for x in g], graphs_captured=len(graphs._graphs),
                warmup_s=round(graphs.warmup_seconds, 2))


def alone_vs_batch(runner, cuda: bool, frames: int) -> dict:
    import torch

    from flashtts_engines.qwen3.sampling import Sampling
    from flashtts_engines.qwen3.static_step import StaticDecode

    target = Sampling(seed=7, max_frames=frames, ignore_eos=True)
    others = [Sampling(seed=10 + i, max_frames=n, ignore_eos=True, **kw) for i, (n, kw) in enumerate([
        (12, dict(temperature=1.3, top_k=10)), (frames + 5, dict(top_p=0.8)), (5, dict(do_sample=False)),
        (30, dict(repetition_penalty=1.5)), (20, {}), (8, dict(top_k=2)), (frames, dict(temperature=0.5))])]
    opts = {"max_len": "128", "cuda_graphs": "1" if cuda else "0"}
    with torch.no_grad():
        alone = _frames(StaticDecode(runner, 1, opts), runner, [target])[0]
        batched = _frames(StaticDecode(runner, 8, opts), runner, [target] + others)[0]
    first = _first_difference(alone, batched)
    return dict(frames=frames, equal=first is None, frames_before_divergence=frames if first is None else first,
                dtype=str(runner.dtype))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--device", default="cuda")
    p.add_argument("--checkpoint", type=Path, default=Path("/tmp/flashtts-gpu-run/selfcheck-tiny"))
    p.add_argument("--frames", type=int, default=40, help="frames of the alone-vs-batch check")
    a = p.parse_args()
    t0 = time.perf_counter()
    result: dict = {"device": a.device, "stage": "imports"}

    def save(stage: str | None = None) -> None:
        if stage:
            result["stage"] = stage
        result["seconds"] = round(time.perf_counter() - t0, 1)
        a.out.write_text(json.dumps(result, indent=1))

    save()

    try:
        import torch

        from flashtts_engines.qwen3.checkpoint import make_checkpoint
        from flashtts_engines.qwen3.model import Qwen3Runner

        save("checkpoint")
        if not (a.checkpoint / "config.json").is_file():
            make_checkpoint("custom_voice", "tiny", a.checkpoint, seed=1234)
        save("load")
        cuda = a.device.startswith("cuda")
        runner = Qwen3Runner(str(a.checkpoint), device=a.device, dtype="bfloat16" if cuda else "float32")
        result["dtype"] = str(runner.dtype)
        result["torch"] = torch.__version__
    except Exception as exc:  # noqa: BLE001 - recorded; the run goes on without the self-check
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
        save()
        return
    checks = [("alone_vs_batch_of_8", lambda: alone_vs_batch(runner, cuda, a.frames))]
    if cuda:
        checks.insert(0, ("graph_replay_vs_eager", lambda: graph_vs_eager(runner)))
    else:
        result["graph_replay_vs_eager"] = {"skipped": "CUDA graphs need a GPU"}
    for name, check in checks:
        save(name)
        try:
            result[name] = check()
        except Exception as exc:  # noqa: BLE001 - one check failing must not lose the other
            traceback.print_exc()
            result[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(name, json.dumps(result[name]), flush=True)
    save("done")


if __name__ == "__main__":
    main()
