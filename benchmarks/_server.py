"""Shared helpers of the benchmarks: a ``flashtts serve`` process on loopback only
(:class:`tools.live_server.LiveServer`, the same helper the tests use)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tools/ (the live-server helper) is the repository's, not the installed package's

from tools.live_server import LiveServer, free_port, require_loopback, stop_process  # noqa: E402, F401  (re-exported)


class Server(LiveServer):
    """``python -m flashtts serve`` on 127.0.0.1 with its own role directory and a quiet log."""

    def __init__(self, *args: str, log_path: Path | None = None) -> None:
        super().__init__(args, log_path, env={"FLASHTTS_LOG_LEVEL": "warning"}, cwd=ROOT)


class Peer:
    """Another project's server run as a command on 127.0.0.1, for side-by-side runs: started with its
    own environment, ready once ``ready_path`` answers 200, terminated on exit."""

    def __init__(self, name: str, command: list[str], ready_path: str, env: dict[str, str] | None = None,
                 port: int | None = None, start_timeout: float = 300.0) -> None:
        import os

        self.name = name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = command
        self.ready_path = ready_path
        self.env = {**os.environ, **(env or {})}
        self.start_timeout = start_timeout
        self.proc = None

    def __enter__(self):
        import subprocess
        import time

        import httpx

        self.proc = subprocess.Popen(self.command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.3)
        self.__exit__()
        raise SystemExit(f"{self.name} did not start in {self.start_timeout:g} s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
