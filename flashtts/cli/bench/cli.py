"""``flashtts bench``: load points against a running server, with a progress bar, JSON and a PNG."""

from __future__ import annotations

import asyncio
import platform
import time
from pathlib import Path

import typer


def bench(
    url: str = typer.Option("http://127.0.0.1:8000", "--url", help="Server base URL"),
    voice: str = typer.Option("alloy", "--voice", help="Voice to request"),
    rate: list[float] = typer.Option([], "--rate", help="Open-loop Poisson arrival rate (req/s); repeatable"),
    concurrency: list[int] = typer.Option([], "--concurrency", help="Closed-loop concurrent streams; repeatable"),
    requests: int = typer.Option(40, "--requests", help="Requests per load point", min=1),
    texts: Path | None = typer.Option(None, "--texts", help="One text per line (default: the committed list)"),
    out: Path = typer.Option(Path("bench.json"), "--out", help="JSON report (a PNG goes beside it)"),
    api_key: str | None = typer.Option(None, "--api_key", envvar="FLASHTTS_BENCH_API_KEY"),
    max_tokens: int | None = typer.Option(None, "--max_tokens", help="Pass max_tokens (fixed-length runs)"),
    title: str = typer.Option("flashtts bench", "--title"),
) -> None:
    """Measure time to first audio, latency, throughput and underruns of a running server."""
    from rich.progress import Progress, TaskID

    from flashtts.cli.bench.client import RunSpec, load_texts, run, write_report  # httpx: not loaded by `serve`

    specs = [RunSpec("poisson", r, requests) for r in rate] + [RunSpec("concurrency", c, requests) for c in concurrency]
    if not specs:
        specs = [RunSpec("concurrency", 1, requests)]
    corpus = load_texts(texts)
    extra = {"max_tokens": max_tokens} if max_tokens else {}
    summaries = []
    with Progress() as progress:
        for spec in specs:
            task = progress.add_task(f"{spec.mode} {spec.load:g}", total=spec.requests)

            def advance(_result: object, task: TaskID = task) -> None:
                progress.advance(task)

            summary = asyncio.run(run(url, spec, corpus, voice, extra, api_key, on_done=advance))
            summaries.append(summary)
    meta = {"title": title, "url": url, "voice": voice, "texts": len(corpus),
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": platform.platform(), "python": platform.python_version()}
    write_report(summaries, out, meta)
    header = (f"{'mode':<12}{'load':>6}{'ok':>5}{'err':>5}{'ttfa p50':>10}{'p95':>8}{'p99':>8}{'lat p50':>9}"
              f"{'audio s/s':>10}{'rtf':>7}{'underrun':>9}")
    typer.echo(header)
    for s in summaries:
        def ms(v):
            return f"{1000 * v:.0f}ms" if v is not None else "-"

        typer.echo(f"{s.mode:<12}{s.load:>6g}{s.ok:>5}{s.errors:>5}{ms(s.ttfa_p50):>10}{ms(s.ttfa_p95):>8}"
                   f"{ms(s.ttfa_p99):>8}{ms(s.latency_p50):>9}{s.audio_seconds_per_second:>10.2f}"
                   f"{(s.rtf_median or 0):>7.2f}{s.streams_with_underruns:>9}")
    typer.echo(f"report: {out}")
    if any(s.errors for s in summaries):
        raise typer.Exit(1)
